using System.Text.Json.Nodes;

namespace SpecKit.Tests.Features;

/// <summary>
/// Writes our AST in the JSON shape of the corpus's .ast.ndjson (Cucumber messages), and
/// compares JSON trees, so that a conformance failure names the first field that differs.
/// </summary>
internal static class GherkinJson
{
    public static JsonObject Document(GherkinDocument document)
    {
        var json = new JsonObject { ["comments"] = Array(document.Comments, Comment) };
        if (document.Feature is { } feature)
        {
            json["feature"] = Feature(feature);
        }

        return json;
    }

    /// <summary>The corpus's document without what our AST does not model: ids and the source uri.</summary>
    public static JsonNode Expected(JsonNode gherkinDocument)
    {
        var copy = gherkinDocument.DeepClone();
        Strip(copy);
        return copy;

        static void Strip(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject obj:
                    obj.Remove("id");
                    obj.Remove("uri");
                    foreach (var (_, child) in obj)
                    {
                        Strip(child);
                    }

                    break;
                case JsonArray array:
                    foreach (var item in array)
                    {
                        Strip(item);
                    }

                    break;
            }
        }
    }

    /// <summary>The path of the first difference ("$.feature.children[0].scenario.name: ..."), or null.</summary>
    public static string? FirstDifference(JsonNode? expected, JsonNode? actual, string path = "$")
    {
        switch (expected, actual)
        {
            case (JsonObject e, JsonObject a):
                foreach (var key in e.Select(p => p.Key).Union(a.Select(p => p.Key)).Order(StringComparer.Ordinal))
                {
                    if (!a.ContainsKey(key))
                    {
                        return $"{path}.{key}: missing, expected {e[key]?.ToJsonString()}";
                    }

                    if (!e.ContainsKey(key))
                    {
                        return $"{path}.{key}: unexpected {a[key]?.ToJsonString()}";
                    }

                    if (FirstDifference(e[key], a[key], $"{path}.{key}") is { } difference)
                    {
                        return difference;
                    }
                }

                return null;
            case (JsonArray e, JsonArray a):
                for (var i = 0; i < Math.Min(e.Count, a.Count); i++)
                {
                    if (FirstDifference(e[i], a[i], $"{path}[{i}]") is { } difference)
                    {
                        return difference;
                    }
                }

                return e.Count == a.Count ? null : $"{path}: {a.Count} items, expected {e.Count}";
            default:
                var (expectedText, actualText) = (expected?.ToJsonString() ?? "null", actual?.ToJsonString() ?? "null");
                return expectedText == actualText ? null : $"{path}: got {actualText}, expected {expectedText}";
        }
    }

    private static JsonArray Array<T>(IEnumerable<T> items, Func<T, JsonNode> convert) =>
        new(items.Select(convert).ToArray());

    private static JsonObject Location(Location location)
    {
        var json = new JsonObject { ["line"] = location.Line };
        if (location.Column != 0)
        {
            json["column"] = location.Column;
        }

        return json;
    }

    private static JsonNode Comment(Comment comment) =>
        new JsonObject { ["location"] = Location(comment.Location), ["text"] = comment.Text };

    private static JsonNode Tag(Tag tag) =>
        new JsonObject { ["location"] = Location(tag.Location), ["name"] = tag.Name };

    private static JsonObject Feature(Feature feature) => new()
    {
        ["location"] = Location(feature.Location),
        ["tags"] = Array(feature.Tags, Tag),
        ["language"] = feature.Language,
        ["keyword"] = feature.Keyword,
        ["name"] = feature.Name,
        ["description"] = feature.Description,
        ["children"] = Array(feature.Children, Child),
    };

    private static JsonNode Child(FeatureChild child) => child switch
    {
        Background background => new JsonObject
        {
            ["background"] = new JsonObject
            {
                ["location"] = Location(background.Location),
                ["keyword"] = background.Keyword,
                ["name"] = background.Name,
                ["description"] = background.Description,
                ["steps"] = Array(background.Steps, Step),
            },
        },
        Scenario scenario => new JsonObject
        {
            ["scenario"] = new JsonObject
            {
                ["location"] = Location(scenario.Location),
                ["tags"] = Array(scenario.Tags, Tag),
                ["keyword"] = scenario.Keyword,
                ["name"] = scenario.Name,
                ["description"] = scenario.Description,
                ["steps"] = Array(scenario.Steps, Step),
                ["examples"] = Array(scenario.Examples, Examples),
            },
        },
        Rule rule => new JsonObject
        {
            ["rule"] = new JsonObject
            {
                ["location"] = Location(rule.Location),
                ["tags"] = Array(rule.Tags, Tag),
                ["keyword"] = rule.Keyword,
                ["name"] = rule.Name,
                ["description"] = rule.Description,
                ["children"] = Array(rule.Children, Child),
            },
        },
        _ => throw new ArgumentException($"unknown child {child.GetType().Name}"),
    };

    private static JsonNode Examples(Examples examples)
    {
        var json = new JsonObject
        {
            ["location"] = Location(examples.Location),
            ["tags"] = Array(examples.Tags, Tag),
            ["keyword"] = examples.Keyword,
            ["name"] = examples.Name,
            ["description"] = examples.Description,
            ["tableBody"] = Array(examples.TableBody, Row),
        };
        if (examples.TableHeader is { } header)
        {
            json["tableHeader"] = Row(header);
        }

        return json;
    }

    private static JsonNode Step(Step step)
    {
        var json = new JsonObject
        {
            ["location"] = Location(step.Location),
            ["keyword"] = step.Keyword,
            ["keywordType"] = step.KeywordType.ToString(),
            ["text"] = step.Text,
        };
        if (step.DataTable is { } table)
        {
            json["dataTable"] = new JsonObject { ["location"] = Location(table.Location), ["rows"] = Array(table.Rows, Row) };
        }

        if (step.DocString is { } docString)
        {
            json["docString"] = new JsonObject
            {
                ["location"] = Location(docString.Location),
                ["content"] = docString.Content,
                ["delimiter"] = docString.Delimiter,
            };
            if (docString.MediaType is { } mediaType)
            {
                json["docString"]!["mediaType"] = mediaType;
            }
        }

        return json;
    }

    private static JsonNode Row(TableRow row) => new JsonObject
    {
        ["location"] = Location(row.Location),
        ["cells"] = Array(row.Cells, cell => new JsonObject { ["location"] = Location(cell.Location), ["value"] = cell.Value }),
    };
}

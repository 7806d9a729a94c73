using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Io.Cucumber.Messages.Types;

namespace SpecKit.Features.Messages;

/// <summary>
/// Cucumber Messages as JSON (one envelope a line): camelCase names, no nulls, and enums as
/// the schema spells them ("text/x.cucumber.gherkin+plain", "PASSED"), which each enum's
/// generated <c>…Extensions.Value</c> knows.
/// </summary>
public static class MessagesJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,

        // Readable lines ('+', quotes and '<' as they are); the HTML formatter escapes what a script tag needs.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new SchemaEnumConverterFactory() },
    };

    /// <summary>One envelope as one line of JSON (no newline).</summary>
    public static string Serialize(Envelope envelope)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Options.Encoder, SkipValidation = true }))
        {
            Write(writer, envelope);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>What System.Text.Json alone writes for <paramref name="envelope"/>: the reference <see cref="LifecycleJson"/> is checked against.</summary>
    internal static string SerializeBySystemTextJson(Envelope envelope) => JsonSerializer.Serialize(envelope, Options);

    /// <summary>A writer of envelopes into <paramref name="output"/>, as <see cref="Options"/> writes them, for <see cref="Write"/>.</summary>
    public static Utf8JsonWriter Writer(System.Buffers.IBufferWriter<byte> output) => new(output, new JsonWriterOptions { Encoder = Options.Encoder, SkipValidation = true });

    /// <summary>Writes one envelope (no newline) through <paramref name="writer"/> into its buffer.</summary>
    public static void Write(Utf8JsonWriter writer, Envelope envelope)
    {
        if (!LifecycleJson.TryWrite(writer, envelope))
        {
            JsonSerializer.Serialize(writer, envelope, Options);
        }

        writer.Flush();
        writer.Reset();
    }

    public static Envelope Deserialize(string line) => JsonSerializer.Deserialize<Envelope>(line, Options)
        ?? throw new JsonException("a message line is null");

    /// <summary>Every envelope of an NDJSON file, skipping blank lines.</summary>
    public static IEnumerable<Envelope> ReadAll(TextReader reader)
    {
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                yield return Deserialize(line);
            }
        }
    }

    private sealed class SchemaEnumConverterFactory : JsonConverterFactory
    {
        public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum && typeToConvert.Namespace == typeof(Envelope).Namespace;

        public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            (JsonConverter)Activator.CreateInstance(typeof(SchemaEnumConverter<>).MakeGenericType(typeToConvert))!;
    }

    private sealed class SchemaEnumConverter<T> : JsonConverter<T>
        where T : struct, Enum
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => SchemaEnum<T>.Parse(reader.GetString() ?? "");

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(SchemaEnum<T>.Value(value));
    }
}

/// <summary>A messages enum as the schema spells it, from its generated <c>…Extensions.Value</c>.</summary>
internal static class SchemaEnum<T>
    where T : struct, Enum
{
    private static readonly ConcurrentDictionary<T, string> Names = new();
    private static readonly Dictionary<string, T> Values = Enum.GetValues<T>().ToDictionary(Value, v => v, StringComparer.Ordinal);

    public static string Value(T value) => Names.GetOrAdd(value, v =>
    {
        var extensions = typeof(T).Assembly.GetType(typeof(T).FullName + "Extensions");
        var method = extensions?.GetMethod("Value", BindingFlags.Public | BindingFlags.Static, [typeof(T)]);
        return method?.Invoke(null, [v]) as string ?? v.ToString();
    });

    public static T Parse(string text) => Values.TryGetValue(text, out var value) ? value : Enum.Parse<T>(text, ignoreCase: true);
}

using System.Text.Json;
using System.Text.RegularExpressions;
using SpecKit.Features.Messages;
using SpecKit.Testing;

namespace SpecKit.Report.Tests;

/// <summary>
/// The small run's report in a real headless browser: the page the official formatter made
/// runs its scripts, then a check script of this test (added to a copy of the report) opens
/// every attachment and writes what the page shows into the DOM, which the browser dumps:
/// every scenario with its steps' statuses, the failed step's expected and actual, and each SVG
/// attachment's rendered size. A screenshot is kept as TestResults/report/small-run.png.
/// </summary>
public class BrowserTests
{
    private const string CheckScript = """
        (function () {
          var last = -1, stable = 0;
          function check() {
            // The page renders as React gets to it: wait until the steps shown stop changing.
            var count = document.querySelectorAll('li[data-status]').length;
            stable = count > 0 && count === last ? stable + 1 : 0;
            last = count;
            if (stable < 5) { setTimeout(check, 100); return; }
            var headings = Array.prototype.slice.call(document.querySelectorAll('h2'));
            document.querySelectorAll('details').forEach(function (d) { d.open = true; });
            var images = Array.prototype.slice.call(document.querySelectorAll('img[src^="data:image/svg+xml"]'));
            Promise.all(images.map(function (i) { return i.decode().catch(function () { return null; }); })).then(function () {
              var result = {
                scenarios: headings.map(function (h) {
                  var section = h.closest('section');
                  return { name: h.textContent, statuses: Array.prototype.slice.call(section.querySelectorAll('li[data-status]')).map(function (l) { return l.getAttribute('data-status'); }) };
                }),
                errors: Array.prototype.slice.call(document.querySelectorAll('pre')).map(function (p) { return p.textContent; }),
                images: images.map(function (i) { var r = i.getBoundingClientRect(); return { w: i.naturalWidth, h: i.naturalHeight, rw: r.width, rh: r.height }; })
              };
              var out = document.createElement('pre');
              out.id = 'speckit-check';
              out.style.display = 'none';
              out.textContent = JSON.stringify(result);
              document.body.appendChild(out);
            });
          }
          setTimeout(check, 100);
        })();
        """;

    private sealed record Checked(List<ScenarioShown> Scenarios, List<string> Errors, List<ImageShown> Images);

    private sealed record ScenarioShown(string Name, List<string> Statuses);

    private sealed record ImageShown(double W, double H, double Rw, double Rh);

    [BrowserFact]
    public void The_report_shows_every_scenario_its_failure_and_its_pictures()
    {
        var page = Path.Combine(Path.GetDirectoryName(SmallRun.MessagesPath)!, "small-run.checked.html");
        HtmlReport.Render(SmallRun.MessagesPath, page, "Small run", CheckScript);
        var dom = Browser.Run(new Uri(page).AbsoluteUri, "--dump-dom");
        var json = Regex.Match(dom, "<pre id=\"speckit-check\"[^>]*>(.*?)</pre>", RegexOptions.Singleline);
        Assert.True(json.Success, "the check script wrote nothing: the report did not render");
        var shown = JsonSerializer.Deserialize<Checked>(System.Net.WebUtility.HtmlDecode(json.Groups[1].Value), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;

        // Every scenario, with each step's status as the messages have it.
        var expected = Expected();
        var keywords = expected.Select(e => e.Name[..(e.Name.IndexOf(':') + 1)]).Distinct().ToList();
        var scenarios = shown.Scenarios.Where(s => keywords.Any(k => s.Name.StartsWith(k, StringComparison.Ordinal))).ToList();
        Assert.Equal(expected.Select(e => e.Name), scenarios.Select(s => s.Name));
        foreach (var (scenario, statuses) in expected)
        {
            Assert.Equal(statuses, scenarios.Single(s => s.Name == scenario).Statuses);
        }

        // The failed step shows what was expected and what came.
        var failure = Assert.Single(shown.Errors, e => e.Contains("EqualException", StringComparison.Ordinal));
        Assert.Contains("Expected: 2", failure);
        Assert.Contains("Actual:   1", failure);

        // Every SVG attachment renders, at a size.
        var attachments = File.ReadAllLines(SmallRun.MessagesPath).Count(l => l.Contains("\"mediaType\":\"image/svg+xml\"", StringComparison.Ordinal));
        Assert.Equal(attachments, shown.Images.Count);
        Assert.All(shown.Images, i => Assert.True(i.W > 0 && i.H > 0 && i.Rw > 0 && i.Rh > 0, $"an SVG attachment renders at {i.W}x{i.H} ({i.Rw}x{i.Rh} on the page)"));

        // The screenshot: an artifact of the run, not a file of the repository.
        var screenshot = Path.Combine(RepoPaths.Root, "TestResults", "report", "small-run.png");
        File.Delete(screenshot);
        Browser.Run(new Uri(page).AbsoluteUri, $"--screenshot={screenshot}", "--window-size=1280,2000");
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot is empty");
    }

    /// <summary>Each scenario heading of the feature, in order, and the statuses of the steps the messages give it (an outline: every row's).</summary>
    private static List<(string Name, List<string> Statuses)> Expected()
    {
        var envelopes = File.ReadAllLines(SmallRun.MessagesPath).Select(MessagesJson.Deserialize).ToList();
        var pickles = envelopes.Where(e => e.Pickle is not null).Select(e => e.Pickle!).ToDictionary(p => p.Id);
        var testCases = envelopes.Where(e => e.TestCase is not null).Select(e => e.TestCase!).ToDictionary(t => t.Id);
        var started = envelopes.Where(e => e.TestCaseStarted is not null).ToDictionary(e => e.TestCaseStarted!.Id, e => e.TestCaseStarted!.TestCaseId);
        var status = envelopes.Where(e => e.TestStepFinished is not null).ToDictionary(e => e.TestStepFinished!.TestStepId, e => e.TestStepFinished!.TestStepResult.Status.ToString());
        var document = envelopes.Single(e => e.GherkinDocument is not null).GherkinDocument!;
        var result = new List<(string, List<string>)>();
        foreach (var scenario in document.Feature.Children.Where(c => c.Scenario is not null).Select(c => c.Scenario!))
        {
            var steps = testCases.Values.Where(t => pickles[t.PickleId].AstNodeIds[0] == scenario.Id)
                .SelectMany(t => t.TestSteps.Where(s => s.PickleStepId is not null).Select(s => status[s.Id]))
                .ToList();
            result.Add((scenario.Keyword + ":" + scenario.Name, steps));
        }

        return result;
    }
}

using SpecKit.Spec.Tests.Support;

namespace SpecKit.Spec.Tests;

/// <summary>
/// The generator never throws, whatever the spec says: random edits of the real spec files
/// either generate cleanly or produce located SPEC diagnostics, never an exception or SPEC099.
/// Each seed edits the spec round after round; the suite runs 10 rounds a seed (each round
/// generates every model), SPECKIT_FUZZ_ROUNDS more.
/// </summary>
public class RobustnessTests
{
    private static readonly int Rounds =
        int.TryParse(Environment.GetEnvironmentVariable("SPECKIT_FUZZ_ROUNDS"), System.Globalization.CultureInfo.InvariantCulture, out var rounds) ? rounds : 10;

    private static readonly string[] Junk = ["Field", "Enum", "EndEnum", "EndLayout", "Layout X \"t\"", "Variant V \"v\"", ":", "\"", "0x", "64:0", "|", "bit(", "(", "=", "#", "Constants", "Value A = A"];

    public static TheoryData<int> Seeds() => new(Enumerable.Range(0, 40));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_edits_never_throw_and_every_diagnostic_is_located(int seed)
    {
        var rng = new Random(seed);
        var files = SpecDriver.RealSpec().ToList();
        for (var round = 0; round < Rounds; round++)
        {
            var index = rng.Next(files.Count);
            files[index] = files[index] with { Text = Mutate(files[index].Text, rng) };
            var result = SpecDriver.Run(files);

            Assert.Null(result.Exception);
            Assert.DoesNotContain(result.Diagnostics, d => d.Id == "SPEC099");
            Assert.All(result.Diagnostics, d =>
            {
                Assert.StartsWith("SPEC", d.Id, StringComparison.Ordinal);
                Assert.True(d.Location.IsInSource || d.Location.Kind == Microsoft.CodeAnalysis.LocationKind.ExternalFile, $"{d.Id} has no location: {d.GetMessage()}");
            });
        }
    }

    private static string Mutate(string text, Random rng)
    {
        var lines = text.Split('\n').ToList();
        var at = rng.Next(lines.Count);
        switch (rng.Next(6))
        {
            case 0:
                lines.RemoveAt(at);
                break;
            case 1:
                lines.Insert(at, lines[rng.Next(lines.Count)]);
                break;
            case 2:
                lines.Insert(at, Junk[rng.Next(Junk.Length)]);
                break;
            case 3 when lines[at].Length > 0:
                lines[at] = lines[at].Remove(rng.Next(lines[at].Length), 1);
                break;
            case 4:
                lines[at] = lines[at].Insert(rng.Next(lines[at].Length + 1), Junk[rng.Next(Junk.Length)]);
                break;
            default:
                lines[at] = string.Concat(lines[at].Select(c => char.IsDigit(c) && rng.Next(3) == 0 ? (char)('0' + rng.Next(10)) : c));
                break;
        }

        return string.Join('\n', lines);
    }
}

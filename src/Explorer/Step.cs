namespace SpecKit.Explorer;

/// <summary>
/// What one operation did, as the feature step that does the same (<see cref="Keyword"/> and
/// <see cref="Text"/>, in docs/steps.md's vocabulary) and what userspace could observe of it
/// (<see cref="Observation"/>: an errno, a bitmap, a loaded value, an exit), which differential
/// runs compare. <see cref="Expect"/> turns another model's observation into a Then step that
/// asserts it, where the vocabulary has one.
/// </summary>
public sealed record Step(string Keyword, string Text, string Observation)
{
    /// <summary>
    /// False when the step, run as a feature, would fail an assertion of its own (a store the
    /// step requires to complete did not, an ioctl it requires to succeed failed): the sequence
    /// ends there, since nothing after it could be printed faithfully.
    /// </summary>
    public bool Printable { get; init; } = true;

    public Func<string, string?>? Expect { get; init; }

    public override string ToString() => $"{Keyword} {Text}";
}

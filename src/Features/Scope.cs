namespace SpecKit.Features;

/// <summary>
/// Undoes what a scoped setting did when disposed: how the runtime's AsyncLocal switches
/// (SPECKIT_MODEL's <see cref="ModelSwitch.Use(string)"/>, a redirected message stream, a model
/// listed for one test) put back what they replaced.
/// </summary>
public sealed class Scope(Action restore) : IDisposable
{
    public void Dispose() => restore();
}

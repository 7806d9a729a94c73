using SpecKit.Mmu;
using SpecKit.Mmu.Policy;

namespace SpecKit.Explorer;

/// <summary>
/// A model with one operation's mmu_lock side changed, as a concurrent scenario's
/// <c>Given the {operation} operation takes mmu_lock for {lock_side}</c> makes it: the races'
/// known-bad inputs (a reset or a write-protection under the read side lets a fault's cmpxchg in
/// between). Its name is the model's with the edit after <see cref="Separator"/>; a printed
/// counterexample names the model and gives the edit as a step (<see cref="VmSetup.Apply"/>).
/// </summary>
public static class LockMutants
{
    public const char Separator = '+';

    /// <summary>The model <paramref name="name"/> names: a spec model, or one with a Lock edit (<c>base+ClearDirtyPtMasked.Lock=Read</c>).</summary>
    public static SpecModelInfo Named(string name)
    {
        if (name.Split(Separator) is not [var model, var edit])
        {
            return SpecModels.Named(name);
        }

        var parts = edit.Split('.', '=');
        if (parts is not [var operation, "Lock", var side] || !Enum.TryParse<MmuOperation>(operation, out var op) || !Enum.TryParse<MmuLock>(side, out var lockSide))
        {
            throw new ArgumentException($"'{name}': a Lock mutant is written model{Separator}Operation.Lock=Read|Write|None", nameof(name));
        }

        return SpecModels.Named(model).WithLock(op, lockSide);
    }

    public static SpecModelInfo WithLock(this SpecModelInfo model, MmuOperation operation, MmuLock side) =>
        model with
        {
            Name = $"{model.Name}{Separator}{operation}.Lock={side}",
            Rules = model.Rules.With(model.Rules[operation] with { Lock = side }),
        };
}

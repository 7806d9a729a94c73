using System;
using System.Collections.Generic;
using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>Evaluates <c>Value</c> expressions within one model, so a variant that changes one value changes every value built on it.</summary>
internal sealed class ValueEvaluator
{
    private readonly SpecValidator _validator;
    private readonly Dictionary<string, LayoutDecl> _layouts;
    private readonly Dictionary<string, ValueDecl> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong?> _done = new(StringComparer.Ordinal);
    private readonly List<string> _inProgress = [];

    public ValueEvaluator(SpecValidator validator, Dictionary<string, LayoutDecl> layouts, Dictionary<string, ConstantsDecl> constants)
    {
        _validator = validator;
        _layouts = layouts;
        foreach (var value in constants.Values.SelectMany(c => c.Values))
        {
            _values[value.Name] = value; // duplicates are reported by the validator
        }
    }

    public ulong? Evaluate(ValueDecl value)
    {
        if (_done.TryGetValue(value.Name, out var known))
        {
            return known;
        }

        if (_inProgress.Contains(value.Name))
        {
            var cycle = string.Join(" -> ", _inProgress.SkipWhile(n => n != value.Name).Concat([value.Name]));
            _validator.Report(Diagnostics.CyclicValue, value.Span, value.Name, cycle);
            return null;
        }

        _inProgress.Add(value.Name);
        var result = Eval(value.Expression, value.Name);
        _inProgress.RemoveAt(_inProgress.Count - 1);
        _done[value.Name] = result;
        return result;
    }

    private ulong? Eval(Expr expr, string owner)
    {
        switch (expr)
        {
            case NumberExpr n:
                return n.Value;
            case BitExpr b:
                return 1UL << b.Bit;
            case ShiftExpr s:
                if (Eval(s.Operand, owner) is not { } operand)
                {
                    return null;
                }

                // C# drops the bits shifted out; the spec must not lose a bit silently.
                if (s.Shift > 0 && operand >> (64 - s.Shift) != 0)
                {
                    _validator.Report(Diagnostics.NumberTooLarge, s.Span, $"0x{operand:x} << {s.Shift} (in Value {owner})", $": its bits {63 + s.Shift - LeadingZeros(operand)}:64 would be shifted out");
                    return null;
                }

                return operand << s.Shift;
            case OrExpr o:
                ulong acc = 0;
                var ok = true;
                foreach (var term in o.Terms)
                {
                    if (Eval(term, owner) is { } v)
                    {
                        acc |= v;
                    }
                    else
                    {
                        ok = false;
                    }
                }

                return ok ? acc : null;
            case RefExpr r:
                return Resolve(r, owner);
            default:
                throw new InvalidOperationException($"unknown expression node {expr.GetType().Name}");
        }
    }

    private static int LeadingZeros(ulong value)
    {
        var n = 0;
        for (var bit = 63; bit >= 0 && (value >> bit & 1) == 0; bit--)
        {
            n++;
        }

        return n;
    }

    private ulong? Resolve(RefExpr r, string owner)
    {
        var path = r.Path;
        if (path.Count == 1)
        {
            if (_values.TryGetValue(path[0], out var target))
            {
                return Evaluate(target);
            }

            return Unknown(r, owner, "");
        }

        if (!_layouts.TryGetValue(path[0], out var layout))
        {
            return Unknown(r, owner, $" (no layout {path[0]})");
        }

        var field = layout.Fields.FirstOrDefault(f => f.Name == path[1]);
        if (field is null || path.Count > 3)
        {
            return Unknown(r, owner, field is null ? $" (layout {layout.Name} has no field {path[1]})" : "");
        }

        if (field.Hi > 63 || field.Hi < field.Lo)
        {
            return null; // reported against the layout
        }

        var width = field.Hi - field.Lo + 1;
        var mask = (width == 64 ? ulong.MaxValue : (1UL << width) - 1) << field.Lo;
        if (path.Count == 2)
        {
            return mask;
        }

        var member = field.Members.FirstOrDefault(m => m.Name == path[2]);
        return member is null
            ? Unknown(r, owner, $" ({layout.Name}.{field.Name} has no value named {path[2]})")
            : (member.Value << field.Lo) & mask;
    }

    private ulong? Unknown(RefExpr r, string owner, string detail)
    {
        _validator.Report(Diagnostics.UnknownReference, r.Span, "Value " + owner, r.Text, detail);
        return null;
    }
}

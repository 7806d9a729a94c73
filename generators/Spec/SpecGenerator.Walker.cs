using System;
using System.Collections.Generic;
using System.Linq;
using SpecKit.Generators.Spec.Model;

namespace SpecKit.Generators.Spec;

/// <summary>Checks a walker declaration and resolves its bit references against the layouts.</summary>
internal sealed class WalkerChecker
{
    private readonly SpecValidator _validator;
    private readonly WalkerDecl _walker;
    private readonly Dictionary<string, LayoutDecl> _layouts;
    private bool _ok = true;

    public WalkerChecker(SpecValidator validator, WalkerDecl walker, Dictionary<string, LayoutDecl> layouts)
    {
        _validator = validator;
        _walker = walker;
        _layouts = layouts;
    }

    public WalkerModel? Check()
    {
        var props = new Dictionary<string, WalkerProperty>(StringComparer.Ordinal);
        foreach (var p in _walker.Properties)
        {
            if (props.TryGetValue(p.Key, out var first))
            {
                _validator.Report(Diagnostics.Duplicate, p.Span, $"{p.Key} of Walker {_walker.Name}", first.Span.Display);
                _ok = false;
            }
            else
            {
                props[p.Key] = p;
            }

            _ok &= p.Source is not null;
        }

        var pageShift = Number(props, "PageShift", 1, 12, 63);
        var levelBits = Number(props, "LevelBits", 1, 1, 16);
        var roots = props.TryGetValue("RootLevels", out var rootProp) ? rootProp.Values.Select(v => Parse(rootProp, v, 1, 8)).ToList() : [];
        if (rootProp is null)
        {
            Fail(_walker.Span, "RootLevels is missing (e.g. RootLevels 4 5)");
        }

        var present = Bit(props, "Present", singleBit: true);
        var huge = Bit(props, "Huge", singleBit: true);
        var address = Bit(props, "Address", singleBit: false);
        var iterator = YesNo(props, "Iterator", defaultValue: true);

        var levels = new List<WalkerLevelModel>();
        foreach (var level in _walker.Levels.OrderBy(l => l.Level))
        {
            _ok &= level.Source is not null;
            if (levels.Any(l => l.Level == level.Level))
            {
                _validator.Report(Diagnostics.Duplicate, level.Span, $"Level {level.Level} of Walker {_walker.Name}", _walker.Levels.First(l => l.Level == level.Level).Span.Display);
                _ok = false;
                continue;
            }

            // Each level becomes the constant <Name>Level beside the walker's own ones.
            if (levels.FirstOrDefault(l => l.Name == level.Name) is { } sameName)
            {
                _validator.Report(Diagnostics.Duplicate, level.Span, $"Level name {level.Name} of Walker {_walker.Name}", _walker.Levels.First(l => l.Level == sameName.Level).Span.Display);
                _ok = false;
            }
            else if (level.Name is "MinRoot" or "MaxRoot" or "MaxHugePage")
            {
                _validator.Report(Diagnostics.InvalidName, level.Span, level.Name, $"a level of Walker {_walker.Name}", $"the constant {level.Name}Level is the walker's own");
                _ok = false;
            }

            levels.Add(new WalkerLevelModel(level.Level, level.Name, level.MayBeLeaf, level.Source ?? ""));
        }

        for (var i = 0; i < levels.Count; i++)
        {
            if (levels[i].Level != i + 1)
            {
                Fail(_walker.Levels.First(l => l.Level == levels[i].Level).Span, $"levels must be numbered 1, 2, 3, ... without gaps; level {i + 1} is missing");
                break;
            }
        }

        if (levels.Count > 0 && !levels[0].MayBeLeaf)
        {
            Fail(_walker.Levels.First(l => l.Level == 1).Span, "level 1 must be a Leaf level: the walk always ends there");
        }

        foreach (var root in roots.Where(r => r is { } v && v > levels.Count))
        {
            Fail(rootProp!.Span, $"root level {root} has no Level line");
        }

        if (pageShift is { } shift && levelBits is { } bits && roots.Count > 0 && roots.Max() is { } maxRoot && shift + (bits * maxRoot) > 64)
        {
            Fail(_walker.Span, $"PageShift {shift} + {maxRoot} levels of {bits} bits exceed a 64-bit address");
        }

        if (!_ok || pageShift is null || levelBits is null || present is null || huge is null || address is null || iterator is null || roots.Any(r => r is null) || roots.Count == 0)
        {
            return null;
        }

        return new WalkerModel(
            _walker.Name,
            _walker.Title,
            SpecValidator.Origin(_walker.Span),
            pageShift.Value,
            levelBits.Value,
            roots.Min()!.Value,
            roots.Max()!.Value,
            present,
            huge,
            address,
            levels.ToEquatableArray(),
            _walker.Properties.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Source}").ToEquatableArray(),
            iterator.Value);
    }

    /// <summary>An optional <c>Key Yes|No</c> property, such as <c>Iterator No</c> for a walker that needs no tdp_iter.c iterator.</summary>
    private bool? YesNo(Dictionary<string, WalkerProperty> props, string key, bool defaultValue)
    {
        if (!props.TryGetValue(key, out var prop))
        {
            return defaultValue;
        }

        if (prop.Values.Count == 1 && prop.Values[0] is ("Yes" or "No"))
        {
            return prop.Values[0] == "Yes";
        }

        Fail(prop.Span, $"{key} takes Yes or No, not '{string.Join(" ", prop.Values)}'");
        return null;
    }

    private int? Number(Dictionary<string, WalkerProperty> props, string key, int count, int min, int max)
    {
        if (!props.TryGetValue(key, out var prop))
        {
            Fail(_walker.Span, $"{key} is missing");
            return null;
        }

        if (prop.Values.Count != count)
        {
            Fail(prop.Span, $"{key} takes {count} value");
            return null;
        }

        return Parse(prop, prop.Values[0], min, max);
    }

    private int? Parse(WalkerProperty prop, string text, int min, int max)
    {
        var status = SpecParser.ParseNumber(text, out var value);
        if (status == SpecParser.NumberStatus.TooLarge)
        {
            Fail(prop.Span, $"{prop.Key} {text} is outside {min}..{max}");
            return null;
        }

        if (status != SpecParser.NumberStatus.Ok)
        {
            _validator.Report(Diagnostics.MalformedNumber, prop.Span, text, $"{prop.Key} of Walker {_walker.Name} takes a number");
            _ok = false;
            return null;
        }

        if (value < (ulong)min || value > (ulong)max)
        {
            Fail(prop.Span, $"{prop.Key} {value} is outside {min}..{max}");
            return null;
        }

        return (int)value;
    }

    private BitRef? Bit(Dictionary<string, WalkerProperty> props, string key, bool singleBit)
    {
        if (!props.TryGetValue(key, out var prop))
        {
            Fail(_walker.Span, $"{key} is missing (name a layout field, e.g. {key} EptSpte.MmuPresent)");
            return null;
        }

        var text = prop.Values[0];
        var parts = text.Split('.');
        if (parts.Length != 2 || prop.Values.Count != 1)
        {
            Fail(prop.Span, $"{key} names one layout field as Layout.Field, not '{string.Join(" ", prop.Values)}'");
            return null;
        }

        if (!_layouts.TryGetValue(parts[0], out var layout) || layout.Fields.FirstOrDefault(f => f.Name == parts[1]) is not { } field)
        {
            _validator.Report(Diagnostics.UnknownReference, prop.Span, $"{key} of Walker {_walker.Name}", text, "");
            _ok = false;
            return null;
        }

        if (field.Hi > 63 || field.Hi < field.Lo)
        {
            _ok = false;
            return null;
        }

        if (singleBit && field.Hi != field.Lo)
        {
            Fail(prop.Span, $"{key} must name a one-bit field; {text} is {field.Bits}");
            return null;
        }

        var width = field.Hi - field.Lo + 1;
        var mask = (width == 64 ? ulong.MaxValue : (1UL << width) - 1) << field.Lo;
        return new BitRef(text, mask, field.Lo, prop.Source ?? "");
    }

    private void Fail(SourceSpan span, string message)
    {
        _validator.Report(Diagnostics.WalkerInvalid, span, _walker.Name, message);
        _ok = false;
    }
}

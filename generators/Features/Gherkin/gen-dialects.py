#!/usr/bin/env python3
"""Regenerates GherkinDialects.cs from gherkin-languages.json.

The parser runs inside a Roslyn source generator, which cannot read files of its own, so
the keyword tables of every Gherkin dialect are compiled in as C# source.

Usage: python3 gen-dialects.py [path/to/gherkin-languages.json]
The default path is the conformance corpus beside the repository (../shared).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "..", "..", "..", "..", "shared", "gherkin-conformance", "gherkin-languages.json")
OUTPUT = os.path.join(HERE, "GherkinDialects.cs")

# JSON field -> constructor parameter, in the order GherkinDialect's constructor takes them.
KEYWORD_FIELDS = [
    ("feature", "feature"), ("rule", "rule"), ("background", "background"),
    ("scenario", "scenario"), ("scenarioOutline", "scenarioOutline"), ("examples", "examples"),
    ("given", "given"), ("when", "when"), ("then", "then"), ("and", "and"), ("but", "but"),
]


def cs_string(text):
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_JSON
    with open(source, encoding="utf-8") as f:
        languages = json.load(f)

    lines = [
        "// This file is produced by gen-dialects.py from gherkin-languages.json (the keyword",
        "// tables of cucumber/gherkin, MIT licence). Do not edit it by hand: rerun",
        "// `python3 generators/Features/Gherkin/gen-dialects.py [gherkin-languages.json]`.",
        "using System;",
        "using System.Collections.Generic;",
        "",
        "namespace SpecKit.Generators.Features.Gherkin;",
        "",
        "internal static partial class GherkinDialects",
        "{",
        "    private static Dictionary<string, GherkinDialect> CreateAll() => new(StringComparer.Ordinal)",
        "    {",
    ]
    for code in sorted(languages):
        lang = languages[code]
        lines.append("        [%s] = new(" % cs_string(code))
        lines.append("            %s, %s, %s," % (cs_string(code), cs_string(lang["name"]), cs_string(lang["native"])))
        args = []
        for field, param in KEYWORD_FIELDS:
            words = ", ".join(cs_string(w) for w in lang[field])
            args.append("            %s: [%s]" % (param, words))
        lines.append(",\n".join(args) + "),")
    lines.append("    };")
    lines.append("}")

    with open(OUTPUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d dialects to %s" % (len(languages), OUTPUT))


if __name__ == "__main__":
    main()

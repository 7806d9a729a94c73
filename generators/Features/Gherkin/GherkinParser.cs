using System.Collections.Generic;
using System.Linq;

namespace SpecKit.Generators.Features.Gherkin;

/// <summary>
/// Parses Gherkin 6+ text into a <see cref="GherkinDocument"/>, with the semantics of the
/// reference implementation (cucumber/gherkin): same grammar, same error recovery (a line
/// that does not fit is reported and skipped, and parsing goes on, up to 11 distinct
/// errors), same error messages. It never throws.
/// </summary>
/// <remarks>
/// The reference parser is a state machine generated from the grammar
/// <code>
/// Feature    := #Language? Tags? #FeatureLine Description Background? ScenarioDefinition* Rule*
/// Rule       := Tags? #RuleLine Description Background? ScenarioDefinition*
/// Background := #BackgroundLine Description Step*
/// ScenarioDefinition := Tags? #ScenarioLine Description Step* ExamplesDefinition*
/// ExamplesDefinition := Tags? #ExamplesLine Description (#TableRow+)?
/// Step       := #StepLine (DataTable DocString? | DocString DataTable?)
/// DataTable  := #TableRow+
/// DocString  := #DocStringSeparator #Other* #DocStringSeparator
/// Description := #Empty* (#Other | #Comment)*
/// </code>
/// where comments and empty lines may appear anywhere else. (Since gherkin v42, which the
/// corpus follows, a step may have a table and a doc string, one of each, in either order.)
/// Rather than its ~40 generated states, a state here is a <see cref="Phase"/> (where in a
/// block we are) plus the innermost open block: the lines a state accepts are the phase's
/// own followed by what may follow the block, in the reference's order, which its error
/// messages list. A tag line is ambiguous (tags of the next examples, scenario or rule);
/// like the reference, the parser looks past tags, comments and empty lines for an
/// Examples or Scenario line to decide.
/// The AST is built as the states change: blocks are open on a stack, and closed (and
/// added to their parent) when a line starts something they cannot contain.
/// </remarks>
internal sealed class GherkinParser
{
    private const int MaxErrors = 11; // the reference gives up after the eleventh error

    private readonly List<GherkinLine> _lines;
    private readonly GherkinTokenMatcher _matcher;
    private readonly List<GherkinError> _errors = [];
    private readonly List<Comment> _comments = [];
    private readonly List<Block> _open = []; // Feature, then Rule, Background/Scenario, Examples
    private Feature? _feature;
    private Phase _phase = Phase.Start;
    private BlockKind _tagsFor;
    private List<Tag> _pendingTags = [];
    private int _next; // index of the line after the current one, for look-ahead

    private GherkinParser(string text)
    {
        _lines = GherkinLine.Split(text);
        _matcher = new GherkinTokenMatcher(AddError);
    }

    private enum Phase
    {
        Start,          // before the feature: # language, tags, Feature:
        AfterLanguage,  // after # language:
        Tags,           // in the tag lines of a feature, rule, scenario or examples (_tagsFor)
        Title,          // after a block's keyword line: empty lines, then a description or the body
        Description,    // in a block's description
        Step,           // after a step line: its table or doc string, or what follows the step
        DataTable,      // in a step's table (which a doc string may follow, if it had none)
        DocString,      // inside a step's doc string
        AfterDocString, // after a step's doc string (which a table may follow, if it had none)
        ExamplesTable,  // in an Examples table
        End,
    }

    private enum BlockKind
    {
        Feature,
        Rule,
        Background,
        Scenario,
        Examples,
    }

    /// <summary>What taking a line does: stay in the current construct, or start a new one.</summary>
    private enum Goal
    {
        Stay,
        End,
        Language,
        Tags,
        Block,
        Description,
        Step,
        DataTable,
        DocString,
        DocStringEnd,
        ExamplesTable,
    }

    public static GherkinParseResult Parse(string text) => new GherkinParser(text ?? "").Run();

    private GherkinParseResult Run()
    {
        for (var i = 0; i <= _lines.Count && _phase != Phase.End && _errors.Count < MaxErrors; i++)
        {
            _next = i + 1;
            Take(i < _lines.Count ? _lines[i] : Eof);
        }

        if (_errors.Count > 0)
        {
            return new GherkinParseResult(null, _errors.ToEquatableArray());
        }

        var document = new GherkinDocument(_feature, _comments.ToEquatableArray());
        return new GherkinParseResult(document, EquatableArray<GherkinError>.Empty);
    }

    private GherkinLine Eof => new(_lines.Count + 1, null);

    private Block Top => _open[_open.Count - 1];

    // One line: the first move of the current state whose token type the line is (and whose
    // look-ahead, if any, succeeds) is taken; otherwise the line is reported and skipped.
    private void Take(GherkinLine line)
    {
        var moves = Moves();
        foreach (var move in moves)
        {
            if (_matcher.Match(move.Token, line) is not { } token
                || (move.LookFor is { } wanted && !LookAhead(wanted)))
            {
                continue;
            }

            Apply(move, token);
            return;
        }

        // Comments and empty lines are allowed everywhere; where a description or a doc
        // string may be, they are part of it instead and already among the moves.
        var open = moves.Any(m => m.Token == TokenType.Other);
        if (!open && _matcher.Match(TokenType.Comment, line) is { } comment)
        {
            AddComment(comment);
            return;
        }

        if (!open && _matcher.Match(TokenType.Empty, line) is not null)
        {
            return;
        }

        var expected = moves.Select(m => m.Token).Distinct().Select(t => "#" + t).ToList();
        if (!open)
        {
            expected.Add("#Comment");
            expected.Add("#Empty");
        }

        var list = string.Join(", ", expected);
        AddError(line.IsEof
            ? new GherkinError($"unexpected end of file, expected: {list}", line.Number, 0)
            : new GherkinError($"expected: {list}, got '{line.Trimmed.Trim()}'", line.Number, line.Indent + 1));
    }

    // Whether, past tags, comments and empty lines, the next line is of the wanted type.
    private bool LookAhead(TokenType wanted)
    {
        for (var i = _next; ; i++)
        {
            var line = i < _lines.Count ? _lines[i] : Eof;
            if (_matcher.Match(wanted, line) is not null)
            {
                return true;
            }

            if (_matcher.Match(TokenType.Empty, line) is null
                && _matcher.Match(TokenType.Comment, line) is null
                && _matcher.Match(TokenType.TagLine, line) is null)
            {
                return false;
            }
        }
    }

    private readonly record struct Move(TokenType Token, Goal Goal, BlockKind Kind = default, TokenType? LookFor = null);

    // The lines the current state accepts, in the order the reference tries them (its
    // error messages list them in that order).
    private List<Move> Moves()
    {
        var moves = new List<Move>();
        switch (_phase)
        {
            case Phase.Start:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.Language, Goal.Language));
                moves.Add(new(TokenType.TagLine, Goal.Tags, BlockKind.Feature));
                moves.Add(new(TokenType.FeatureLine, Goal.Block, BlockKind.Feature));
                break;
            case Phase.AfterLanguage:
                moves.Add(new(TokenType.TagLine, Goal.Tags, BlockKind.Feature));
                moves.Add(new(TokenType.FeatureLine, Goal.Block, BlockKind.Feature));
                break;
            case Phase.Tags:
                moves.Add(new(TokenType.TagLine, Goal.Stay));
                moves.Add(new(KeywordLine(_tagsFor), Goal.Block, _tagsFor));
                break;
            case Phase.Title:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.Empty, Goal.Stay));
                moves.Add(new(TokenType.Comment, Goal.Description));
                AddFollowers(moves);
                moves.Add(new(TokenType.Other, Goal.Description));
                break;
            case Phase.Description:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.Comment, Goal.Stay));
                AddFollowers(moves);
                moves.Add(new(TokenType.Other, Goal.Stay));
                break;
            case Phase.Step:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.TableRow, Goal.DataTable));
                moves.Add(new(TokenType.DocStringSeparator, Goal.DocString));
                AddFollowers(moves);
                break;
            case Phase.DataTable:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.TableRow, Goal.Stay));
                if (Top.Step!.DocString is null)
                {
                    moves.Add(new(TokenType.DocStringSeparator, Goal.DocString));
                }

                AddFollowers(moves);
                break;
            case Phase.DocString:
                moves.Add(new(TokenType.DocStringSeparator, Goal.DocStringEnd));
                moves.Add(new(TokenType.Other, Goal.Stay));
                break;
            case Phase.AfterDocString:
                moves.Add(new(TokenType.EOF, Goal.End));
                if (Top.Step!.Rows is null)
                {
                    moves.Add(new(TokenType.TableRow, Goal.DataTable));
                }

                AddFollowers(moves);
                break;
            case Phase.ExamplesTable:
                moves.Add(new(TokenType.EOF, Goal.End));
                moves.Add(new(TokenType.TableRow, Goal.Stay));
                AddSections(moves, examples: true);
                break;
        }

        return moves;
    }

    // What may follow the current block's header or its last step.
    private void AddFollowers(List<Move> moves)
    {
        switch (Top.Kind)
        {
            case BlockKind.Feature or BlockKind.Rule:
                moves.Add(new(TokenType.BackgroundLine, Goal.Block, BlockKind.Background));
                AddSections(moves, examples: false);
                break;
            case BlockKind.Background:
                moves.Add(new(TokenType.StepLine, Goal.Step));
                AddSections(moves, examples: false);
                break;
            case BlockKind.Scenario:
                moves.Add(new(TokenType.StepLine, Goal.Step));
                AddSections(moves, examples: true);
                break;
            case BlockKind.Examples:
                moves.Add(new(TokenType.TableRow, Goal.ExamplesTable));
                AddSections(moves, examples: true);
                break;
        }
    }

    // The next examples (inside a scenario), scenario or rule. The reference tries all the
    // tag-line readings before the keyword lines.
    private static void AddSections(List<Move> moves, bool examples)
    {
        if (examples)
        {
            moves.Add(new(TokenType.TagLine, Goal.Tags, BlockKind.Examples, TokenType.ExamplesLine));
        }

        moves.Add(new(TokenType.TagLine, Goal.Tags, BlockKind.Scenario, TokenType.ScenarioLine));
        moves.Add(new(TokenType.TagLine, Goal.Tags, BlockKind.Rule));
        if (examples)
        {
            moves.Add(new(TokenType.ExamplesLine, Goal.Block, BlockKind.Examples));
        }

        moves.Add(new(TokenType.ScenarioLine, Goal.Block, BlockKind.Scenario));
        moves.Add(new(TokenType.RuleLine, Goal.Block, BlockKind.Rule));
    }

    private static TokenType KeywordLine(BlockKind kind) => kind switch
    {
        BlockKind.Feature => TokenType.FeatureLine,
        BlockKind.Rule => TokenType.RuleLine,
        BlockKind.Background => TokenType.BackgroundLine,
        BlockKind.Scenario => TokenType.ScenarioLine,
        _ => TokenType.ExamplesLine,
    };

    private void Apply(Move move, Token token)
    {
        switch (move.Goal)
        {
            case Goal.Stay:
                Absorb(token);
                return;
            case Goal.End:
                while (_open.Count > 0)
                {
                    CloseBlock();
                }

                _phase = Phase.End;
                return;
            case Goal.Language:
                _phase = Phase.AfterLanguage; // the matcher has switched the dialect
                return;
            case Goal.Tags:
                // Whatever the tags belong to starts here, so what it follows ends here.
                CloseFor(move.Kind);
                _tagsFor = move.Kind;
                _pendingTags = [];
                Absorb(token);
                _phase = Phase.Tags;
                return;
            case Goal.Block:
                CloseFor(move.Kind);
                _open.Add(new Block(move.Kind, token, _pendingTags.ToEquatableArray()));
                _pendingTags = [];
                _phase = Phase.Title;
                return;
            case Goal.Description:
                Top.Description = [];
                Absorb(token);
                _phase = Phase.Description;
                return;
            case Goal.Step:
                CloseStep(Top);
                Top.Step = new StepBuilder(token);
                _phase = Phase.Step;
                return;
            case Goal.DataTable:
                Top.Step!.Rows = [];
                Absorb(token);
                _phase = Phase.DataTable;
                return;
            case Goal.DocString:
                Top.Step!.DocString = token;
                Top.Step.DocLines = [];
                _phase = Phase.DocString;
                return;
            case Goal.DocStringEnd:
                _phase = Phase.AfterDocString;
                return;
            case Goal.ExamplesTable:
                Top.Rows = [];
                Absorb(token);
                _phase = Phase.ExamplesTable;
                return;
        }
    }

    // A line that continues the current construct.
    private void Absorb(Token token)
    {
        switch (token.Type)
        {
            case TokenType.Comment:
                AddComment(token);
                break;
            case TokenType.TagLine:
                _pendingTags.AddRange(token.Items!.Select(t => new Tag(new Location(token.Location.Line, t.Column), t.Text)));
                break;
            case TokenType.TableRow:
                var row = new TableRow(token.Location, token.Items!.Select(c => new TableCell(new Location(token.Location.Line, c.Column), c.Text)).ToEquatableArray());
                (Top.Step?.Rows ?? Top.Rows)!.Add(row);
                break;
            case TokenType.Other when _phase == Phase.DocString:
                Top.Step!.DocLines!.Add(token.Text);
                break;
            case TokenType.Other:
                Top.Description!.Add(token.Text);
                break;
        }
    }

    private void AddComment(Token token) => _comments.Add(new Comment(token.Location, token.Text));

    // Closes the open blocks that cannot contain a block of the given kind.
    private void CloseFor(BlockKind kind)
    {
        bool IsParent(BlockKind parent) => kind switch
        {
            BlockKind.Feature => false,
            BlockKind.Rule => parent == BlockKind.Feature,
            BlockKind.Examples => parent == BlockKind.Scenario,
            _ => parent is BlockKind.Feature or BlockKind.Rule,
        };

        while (_open.Count > 0 && !IsParent(Top.Kind))
        {
            CloseBlock();
        }

        if (_open.Count > 0)
        {
            CloseStep(Top);
        }
    }

    // Ends the innermost block and adds it to its parent.
    private void CloseBlock()
    {
        var block = Top;
        CloseStep(block);
        _open.RemoveAt(_open.Count - 1);

        var line = block.Line;
        var description = Description(block.Description);
        switch (block.Kind)
        {
            case BlockKind.Feature:
                _feature = new Feature(line.Location, block.Tags, line.Dialect.Language, line.Keyword, line.Text, description, block.Children.ToEquatableArray());
                break;
            case BlockKind.Rule:
                Top.Children.Add(new Rule(line.Location, block.Tags, line.Keyword, line.Text, description, block.Children.ToEquatableArray()));
                break;
            case BlockKind.Background:
                Top.Children.Add(new Background(line.Location, line.Keyword, line.Text, description, block.Steps.ToEquatableArray()));
                break;
            case BlockKind.Scenario:
                Top.Children.Add(new Scenario(line.Location, block.Tags, line.Keyword, line.Text, description, block.Steps.ToEquatableArray(), block.Examples.ToEquatableArray()));
                break;
            case BlockKind.Examples:
                var rows = block.Rows ?? [];
                CheckCellCounts(rows);
                Top.Examples.Add(new Examples(line.Location, block.Tags, line.Keyword, line.Text, description, rows.FirstOrDefault(), rows.Skip(1).ToEquatableArray()));
                break;
        }
    }

    // Ends the block's open step, if any, with its table or doc string.
    private void CloseStep(Block block)
    {
        if (block.Step is not { } step)
        {
            return;
        }

        block.Step = null;
        DataTable? table = null;
        if (step.Rows is { } rows)
        {
            CheckCellCounts(rows);
            table = new DataTable(rows[0].Location, rows.ToEquatableArray());
        }

        DocString? docString = null;
        if (step.DocString is { } open)
        {
            var mediaType = open.Text.Length == 0 ? null : open.Text;
            docString = new DocString(open.Location, mediaType, string.Join("\n", step.DocLines!), open.Keyword);
        }

        var line = step.Line;
        block.Steps.Add(new Step(line.Location, line.Keyword, line.Dialect.KeywordTypeOf(line.Keyword), line.Text, table, docString));
    }

    private void CheckCellCounts(List<TableRow> rows)
    {
        var bad = rows.FirstOrDefault(r => r.Cells.Count != rows[0].Cells.Count);
        if (bad is not null)
        {
            AddError(new GherkinError("inconsistent cell count within the table", bad.Location.Line, bad.Location.Column));
        }
    }

    // The description's lines as written, without the blank lines that end it (the ones
    // before it never reach it).
    private static string Description(List<string>? lines)
    {
        if (lines is null)
        {
            return "";
        }

        var count = lines.Count;
        while (count > 0 && string.IsNullOrWhiteSpace(lines[count - 1]))
        {
            count--;
        }

        return string.Join("\n", lines.Take(count));
    }

    // Like the reference: an error identical to an earlier one is not repeated.
    private void AddError(GherkinError error)
    {
        if (_errors.Count < MaxErrors && !_errors.Contains(error))
        {
            _errors.Add(error);
        }
    }

    /// <summary>A feature, rule, background, scenario or examples block being read.</summary>
    private sealed class Block(BlockKind kind, Token line, EquatableArray<Tag> tags)
    {
        public BlockKind Kind { get; } = kind;

        public Token Line { get; } = line;

        public EquatableArray<Tag> Tags { get; } = tags;

        public List<string>? Description { get; set; }

        public List<FeatureChild> Children { get; } = [];

        public List<Step> Steps { get; } = [];

        public StepBuilder? Step { get; set; }

        public List<Examples> Examples { get; } = [];

        public List<TableRow>? Rows { get; set; }
    }

    /// <summary>A step being read, with its table rows or doc string so far.</summary>
    private sealed class StepBuilder(Token line)
    {
        public Token Line { get; } = line;

        public List<TableRow>? Rows { get; set; }

        public Token? DocString { get; set; }

        public List<string>? DocLines { get; set; }
    }
}

namespace SpecKit.Features;

/// <summary>A step's data table: the first row is the header.</summary>
public sealed class DataTable
{
    private readonly string[][] _rows;

    public DataTable(string[][] rows)
    {
        if (rows.Length == 0)
        {
            throw new ArgumentException("a data table has at least a header row", nameof(rows));
        }

        _rows = rows;
    }

    public IReadOnlyList<string> Header => _rows[0];

    /// <summary>The rows below the header.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Rows => _rows.Skip(1).ToArray();

    public int RowCount => _rows.Length - 1;

    /// <summary>The cell in body row <paramref name="row"/> (0-based, below the header) under <paramref name="column"/>.</summary>
    public string this[int row, string column]
    {
        get
        {
            var index = Array.IndexOf(_rows[0], column);
            return index < 0
                ? throw new KeyNotFoundException($"the table has no column '{column}'; its columns are {string.Join(", ", _rows[0])}")
                : _rows[row + 1][index];
        }
    }

    public IEnumerable<IReadOnlyDictionary<string, string>> AsDictionaries() =>
        _rows.Skip(1).Select(r => (IReadOnlyDictionary<string, string>)_rows[0].Zip(r).ToDictionary(p => p.First, p => p.Second));

    public override string ToString() => string.Join("\n", _rows.Select(r => "| " + string.Join(" | ", r) + " |"));
}

/// <summary>A step's doc string.</summary>
public sealed class DocString(string content, string? mediaType)
{
    public string Content { get; } = content;

    public string? MediaType { get; } = mediaType;

    public override string ToString() => Content;
}

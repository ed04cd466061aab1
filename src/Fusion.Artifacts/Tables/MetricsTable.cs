using Parquet;
using Parquet.Schema;

namespace Fusion.Artifacts.Tables;

/// <summary>One measured value with free labels (e.g. variant=early-concat, step=100000, n=30000).</summary>
public sealed record MetricRow(string Name, double Value, string Unit, IReadOnlyDictionary<string, string>? Labels = null)
{
    public string? Label(string key) => Labels?.GetValueOrDefault(key);
}

/// <summary>
/// The metrics table: columns <c>name</c> string, <c>value</c> double, <c>unit</c> string, then one optional string
/// column per label key (sorted; a row without that label holds null), so pandas/DuckDB see labels as plain columns.
/// File metadata <c>fusion.table = metrics</c>.
/// </summary>
public static class MetricsTable
{
    public const string Kind = "metrics";
    static readonly string[] Fixed = ["name", "value", "unit"];

    public static async Task WriteAsync(string path, IEnumerable<MetricRow> rows, IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken ct = default)
    {
        var list = rows.ToList();
        var labelKeys = list.SelectMany(r => r.Labels?.Keys ?? []).Distinct().Order(StringComparer.Ordinal).ToList();
        if (labelKeys.FirstOrDefault(k => Fixed.Contains(k)) is { } clash)
            throw new ArgumentException($"metric label '{clash}' clashes with a fixed column (name, value, unit)");
        var name = new DataField<string>("name", false);
        var value = new DataField<double>("value", false);
        var unit = new DataField<string>("unit", false);
        var labels = labelKeys.Select(k => new DataField<string>(k, true)).ToList();
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema([name, value, unit, .. labels]), stream,
            ParquetTable.Options(TableCompression.Snappy), cancellationToken: ct);
        writer.CustomMetadata = ParquetTable.Metadata(Kind, metadata);
        using var g = writer.CreateRowGroup();
        await g.WriteAsync(name, list.Select(r => r.Name).ToArray());
        await g.WriteAsync<double>(value, new ReadOnlyMemory<double>(list.Select(r => r.Value).ToArray()), cancellationToken: ct);
        await g.WriteAsync(unit, list.Select(r => r.Unit).ToArray());
        for (var i = 0; i < labels.Count; i++)
            await g.WriteAsync(labels[i], list.Select(r => r.Label(labelKeys[i])).ToArray()!);
    }

    public static async Task<List<MetricRow>> ReadAsync(string path, CancellationToken ct = default)
    {
        await using var reader = await ParquetTable.OpenAsync(path, Kind, ct);
        var name = ParquetTable.Field(reader, path, "name", typeof(string));
        var value = ParquetTable.Field(reader, path, "value", typeof(double));
        var unit = ParquetTable.Field(reader, path, "unit", typeof(string));
        var labels = reader.Schema.DataFields.Where(f => !Fixed.Contains(f.Name)).ToList();
        if (labels.FirstOrDefault(f => ParquetTable.ClrTypeOf(f) != typeof(string)) is { } bad)
            throw new TableFormatException($"{path}: label column '{bad.Name}' is {ParquetTable.ClrTypeOf(bad).Name}, expected String");
        var rows = new List<MetricRow>();
        try
        {
            for (var gi = 0; gi < reader.RowGroupCount; gi++)
            {
                using var g = reader.OpenRowGroupReader(gi);
                var n = checked((int)g.RowCount);
                var names = new string?[n]; var values = new double[n]; var units = new string?[n];
                await g.ReadAsync(name, names.AsMemory(), cancellationToken: ct);
                await g.ReadAsync<double>(value, values.AsMemory(), cancellationToken: ct);
                await g.ReadAsync(unit, units.AsMemory(), cancellationToken: ct);
                var labelValues = new List<string?[]>();
                foreach (var f in labels)
                {
                    var a = new string?[n];
                    await g.ReadAsync(f, a.AsMemory(), cancellationToken: ct);
                    labelValues.Add(a);
                }
                for (var r = 0; r < n; r++)
                {
                    var l = new Dictionary<string, string>();
                    for (var c = 0; c < labels.Count; c++)
                        if (labelValues[c][r] is { } v) l[labels[c].Name] = v;
                    rows.Add(new MetricRow(names[r] ?? "", values[r], units[r] ?? "", l.Count > 0 ? l : null));
                }
            }
        }
        catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(path, e); }
        return rows;
    }
}

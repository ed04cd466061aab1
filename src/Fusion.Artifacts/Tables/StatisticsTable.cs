using System.Globalization;
using System.Runtime.InteropServices;

namespace Fusion.Artifacts.Tables;

/// <summary>Gaussian statistics of D-dimensional features: float64 mean [D], covariance [D, D] row-major, sample count (0 = unknown).</summary>
public sealed record GaussianStatistics(double[] Mean, double[] Covariance, long Count)
{
    public int Dim => Mean.Length;
}

/// <summary>
/// FID statistics as our own Parquet: a float64 tensor table of shape [D] with string keys — the row "mu", then the
/// covariance rows "sigma/0" … "sigma/{D−1}" in order — and the sample count in the metadata key
/// <c>stats.count</c>. Lossless (the float64 bits of pytorch-fid's .npz) and readable by any Parquet tool.
/// </summary>
public static class StatisticsTable
{
    public const string CountKey = "stats.count";
    public const string MeanKey = "mu";
    public static string CovarianceRowKey(int row) => $"sigma/{row.ToString(CultureInfo.InvariantCulture)}";

    public static async Task WriteAsync(string path, GaussianStatistics stats, IReadOnlyDictionary<string, string>? metadata = null, CancellationToken ct = default)
    {
        var d = stats.Dim;
        if (d == 0 || stats.Covariance.Length != (long)d * d)
            throw new ArgumentException($"{path}: statistics need mean [D] and covariance [D·D] values; got {stats.Mean.Length} and {stats.Covariance.Length}");
        var md = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { [CountKey] = stats.Count.ToString(CultureInfo.InvariantCulture) };
        await using var writer = await TensorTableWriter.CreateAsync(path, new TensorSpec(TensorDType.Float64, [d]), TensorKeyType.String,
            metadata: md, compression: TableCompression.None, ct: ct);
        await writer.AddAsync(MeanKey, MemoryMarshal.AsBytes(stats.Mean.AsSpan()), ct: ct);
        for (var r = 0; r < d; r++)
            await writer.AddAsync(CovarianceRowKey(r), MemoryMarshal.AsBytes(stats.Covariance.AsSpan(r * d, d)), ct: ct);
        await writer.CompleteAsync(ct);
    }

    /// <summary>Reads and checks a statistics table: float64 [D], the rows "mu" and "sigma/0…D−1" exactly once and in order.</summary>
    public static async Task<(GaussianStatistics Stats, IReadOnlyDictionary<string, string> Metadata)> ReadAsync(string path, CancellationToken ct = default)
    {
        await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
        if (reader.Spec.DType != TensorDType.Float64 || reader.Spec.Shape.Count != 1 || reader.KeyType != TensorKeyType.String)
            throw new TableFormatException($"{path}: statistics are a float64 [D] table with string keys; this one holds {reader.Spec} with {reader.KeyType} keys");
        var d = reader.Spec.Shape[0];
        if (reader.RowCount != d + 1)
            throw new TableFormatException($"{path}: statistics of dimension {d} have {d + 1} rows (mu and {d} sigma rows); this table has {reader.RowCount}");
        var mean = new double[d];
        var cov = new double[(long)d * d];
        var row = 0;
        await foreach (var r in reader.ReadAllAsync(ct))
        {
            var expected = row == 0 ? MeanKey : CovarianceRowKey(row - 1);
            if (r.StringKey != expected) throw new TableFormatException($"{path}: row {row} is keyed '{r.StringKey}'; expected '{expected}'");
            MemoryMarshal.Cast<byte, double>(r.Payload).CopyTo(row == 0 ? mean : cov.AsSpan((row - 1) * d, d));
            row++;
        }
        var metadata = reader.Metadata;
        var count = metadata.TryGetValue(CountKey, out var c) && long.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw new TableFormatException($"{path}: statistics table lacks a valid '{CountKey}' metadata value (got '{c}')");
        return (new GaussianStatistics(mean, cov, count), metadata.Where(kv => kv.Key != CountKey).ToDictionary(kv => kv.Key, kv => kv.Value));
    }
}

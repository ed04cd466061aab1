using System.Globalization;
using System.Security.Cryptography;
using Fusion.Artifacts.Tables;

namespace Fusion.Reproduction.Statistics;

/// <summary>One bootstrap replicate of one metric (a row of <c>bootstrap.parquet</c>).</summary>
public sealed class BootstrapRecord
{
    public string Metric { get; set; } = "";
    public int Replicate { get; set; }
    public double Value { get; set; }
}

/// <summary>
/// The replicates of an evaluation's metrics over its samples, as <c>bootstrap.parquet</c> holds them: the same
/// <see cref="Bootstrap"/> index sets for every metric, with the caption order they refer to (as a digest) so that
/// two evaluations pair only when they resampled the same captions.
/// </summary>
public sealed record SampleBootstrap(int Samples, int Resamples, long Seed, string CaptionDigest, IReadOnlyDictionary<string, double[]> Replicates)
{
    public const string FileName = "bootstrap.parquet";
    private const string SamplesKey = "bootstrap.samples", ResamplesKey = "bootstrap.resamples",
        SeedKey = "bootstrap.seed", CaptionsKey = "bootstrap.captions_sha256";

    /// <summary>
    /// Replicates of each statistic: <paramref name="statistics"/> maps a metric to its value on a resample, given the
    /// sample indices drawn (with repeats).
    /// </summary>
    public static SampleBootstrap Compute(IReadOnlyList<long> captionIds, IReadOnlyDictionary<string, Func<int[], double>> statistics,
        int resamples, long seed, Action<int>? progress = null, CancellationToken ct = default)
    {
        var replicates = statistics.Keys.ToDictionary(k => k, _ => new double[resamples]);
        for (var r = 0; r < resamples; r++)
        {
            ct.ThrowIfCancellationRequested();
            var indices = Bootstrap.Indices(captionIds.Count, seed, r);
            foreach (var (metric, statistic) in statistics) replicates[metric][r] = statistic(indices);
            progress?.Invoke(r + 1);
        }
        return new SampleBootstrap(captionIds.Count, resamples, seed, Digest(captionIds), replicates);
    }

    /// <summary>Mean of <paramref name="values"/> over the drawn indices.</summary>
    public static double Mean(IReadOnlyList<double> values, int[] indices) => indices.Sum(i => values[i]) / indices.Length;

    public static string Digest(IReadOnlyList<long> captionIds) =>
        Convert.ToHexStringLower(SHA256.HashData(captionIds.SelectMany(BitConverter.GetBytes).ToArray()));

    public Task WriteAsync(string path, CancellationToken ct) =>
        RecordsTable.WriteAsync(path,
            Replicates.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .SelectMany(kv => kv.Value.Select((v, r) => new BootstrapRecord { Metric = kv.Key, Replicate = r, Value = v })),
            new Dictionary<string, string>
            {
                [SamplesKey] = Samples.ToString(CultureInfo.InvariantCulture), [ResamplesKey] = Resamples.ToString(CultureInfo.InvariantCulture),
                [SeedKey] = Seed.ToString(CultureInfo.InvariantCulture), [CaptionsKey] = CaptionDigest,
            }, ct: ct);

    public static async Task<SampleBootstrap> ReadAsync(string path, CancellationToken ct)
    {
        var md = await ParquetTable.ReadMetadataAsync(path, ct);
        string Key(string k) => md.TryGetValue(k, out var v) ? v : throw new TableFormatException($"{path}: no '{k}' in its metadata");
        var resamples = int.Parse(Key(ResamplesKey), CultureInfo.InvariantCulture);
        var replicates = new Dictionary<string, double[]>(StringComparer.Ordinal);
        await foreach (var r in RecordsTable.ReadAsync<BootstrapRecord>(path, ct))
        {
            if (r.Replicate < 0 || r.Replicate >= resamples) throw new TableFormatException($"{path}: replicate {r.Replicate} of '{r.Metric}' outside 0..{resamples - 1}");
            (replicates.TryGetValue(r.Metric, out var values) ? values : replicates[r.Metric] = new double[resamples])[r.Replicate] = r.Value;
        }
        return new SampleBootstrap(int.Parse(Key(SamplesKey), CultureInfo.InvariantCulture), resamples, long.Parse(Key(SeedKey), CultureInfo.InvariantCulture),
            Key(CaptionsKey), replicates);
    }

    /// <summary>Whether replicate r of this and of <paramref name="other"/> came from the same samples (a paired bootstrap).</summary>
    public bool PairsWith(SampleBootstrap other) =>
        Samples == other.Samples && Resamples == other.Resamples && Seed == other.Seed && CaptionDigest == other.CaptionDigest;
}

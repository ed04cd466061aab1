using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

/// <summary>
/// One trained model's figures: a variant under one seed (Seed null: the pipeline has no seed axis). Recipe is the
/// recipe fingerprint of its evaluation (what a stored seed spread must match; null when unknown).
/// </summary>
public sealed record RunResult(string Variant, long? Seed, IReadOnlyDictionary<string, double> Metrics, SampleBootstrap? Bootstrap = null, string? Recipe = null);

/// <summary>The interleaved timing rounds: variant → per-round rates (index = round), and the machine they ran on.</summary>
public sealed record TimingRounds(IReadOnlyDictionary<string, double[]> Train, IReadOnlyDictionary<string, double[]> Sample, string Machine);

/// <summary>
/// Everything the report judges: every run's metrics (with their bootstrap replicates), each variant's exact
/// figures (parameters, GMACs) and the timing rounds; the stored seed spread a one-seed comparison may use, and the
/// sequential design when the run adds seeds until its claims are decided (null: a fixed design at 95 %).
/// </summary>
public sealed record StudyResults(
    IReadOnlyList<RunResult> Runs,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Exact,
    TimingRounds? Timing = null,
    SeedSpread? Spread = null,
    SequentialDesign? Design = null)
{
    public IEnumerable<string> Variants => Runs.Select(r => r.Variant).Concat(Exact.Keys).Distinct().Order(StringComparer.Ordinal);

    public IReadOnlyList<RunResult> RunsOf(string variant, string metric) =>
        Runs.Where(r => r.Variant == variant && r.Metrics.TryGetValue(metric, out var v) && double.IsFinite(v)).OrderBy(r => r.Seed).ToList();
}

using Fusion.Artifacts.Store;
using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Report;
using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Seeds;

/// <summary>How often one-seed 95 % intervals of one metric's difference contained the mean difference over all seeds.</summary>
public sealed record CoverageRow(string Metric, int Seeds, double MeanDifference, double SeedSd,
    int BootstrapSeeds, int BootstrapCovered, double BootstrapHalfWidth, int SpreadCovered, double SpreadHalfWidth)
{
    /// <summary>Over the seeds whose evaluations have a paired bootstrap (NaN when none has).</summary>
    public double BootstrapCoverage => BootstrapSeeds == 0 ? double.NaN : (double)BootstrapCovered / BootstrapSeeds;
    public double SpreadCoverage => (double)SpreadCovered / Seeds;
}

/// <summary>
/// <c>fusion calibrate</c>'s arithmetic: from paired runs of one comparison under many seeds, each metric's seed spread
/// (what a one-seed report may then use), and the empirical coverage of one-seed intervals — the bootstrap over
/// evaluation samples alone, and the report's interval with the seed spread measured on the other seeds (leave one
/// out, so no seed judges itself).
/// </summary>
public static class Calibration
{
    public static SpreadComparison Spread(string intermediate, string early, string intermediateRecipe, string earlyRecipe,
        IReadOnlyList<(RunResult Intermediate, RunResult Early)> pairs)
    {
        if (pairs.Count < 2) throw new ArgumentException($"a seed spread needs two or more seeds of {intermediate} vs {early}, got {pairs.Count}");
        var metrics = pairs.Select(p => p.Intermediate.Metrics.Keys.Intersect(p.Early.Metrics.Keys)).Aggregate((a, b) => a.Intersect(b)).Order(StringComparer.Ordinal);
        var spreads = new SortedDictionary<string, MetricSpread>(StringComparer.Ordinal);
        foreach (var metric in metrics)
        {
            var d = pairs.Select(p => p.Intermediate.Metrics[metric] - p.Early.Metrics[metric]).ToList();
            // A count that never differs (the number of images) has no spread to measure.
            if (d.Any(x => !double.IsFinite(x)) || d.All(x => x == 0)) continue;
            spreads[metric] = Of(d);
        }
        return new SpreadComparison(intermediate, early, intermediateRecipe, earlyRecipe, pairs.Select(p => p.Intermediate.Seed ?? 0).ToList(), spreads);
    }

    /// <summary>One committed evaluation (its metrics and bootstrap replicates) as the report reads it.</summary>
    public static async Task<RunResult> ReadRunAsync(IArtifactStore store, Manifest evaluation, string variant, long? seed, string? recipe, CancellationToken ct)
    {
        var metrics = (await MetricsTable.ReadAsync(await store.GetLocalPathAsync(evaluation, "metrics.parquet", ct), ct)).ToDictionary(r => r.Name, r => r.Value);
        var bootstrap = evaluation.Files.Any(f => f.Name == SampleBootstrap.FileName)
            ? await SampleBootstrap.ReadAsync(await store.GetLocalPathAsync(evaluation, SampleBootstrap.FileName, ct), ct) : null;
        return new RunResult(variant, seed, metrics, bootstrap, recipe);
    }

    public static MetricSpread Of(IReadOnlyList<double> differences)
    {
        var mean = differences.Average();
        var sd = Math.Sqrt(differences.Sum(x => (x - mean) * (x - mean)) / (differences.Count - 1));
        return new MetricSpread(mean, sd, differences.Count - 1, differences);
    }

    /// <summary>
    /// Coverage of each calibrated metric over the seeds of <paramref name="comparison"/> (at least three, so that the
    /// other seeds still have a spread).
    /// </summary>
    public static IReadOnlyList<CoverageRow> Coverage(SpreadComparison comparison, IReadOnlyList<(RunResult Intermediate, RunResult Early)> pairs, SeedSpread provenance)
    {
        if (pairs.Count < 3) throw new ArgumentException($"coverage needs three or more seeds (one judged, two for the others' spread), got {pairs.Count}");
        var rows = new List<CoverageRow>();
        foreach (var (metric, spread) in comparison.Metrics)
        {
            int bootSeeds = 0, boot = 0, withSpread = 0;
            double bootHalf = 0, spreadHalf = 0;
            for (var j = 0; j < pairs.Count; j++)
            {
                var (a, b) = pairs[j];
                if (Estimates.PairedBootstrap(a, b, metric) is { Interval.HasBounds: true } pb)
                {
                    bootSeeds++;
                    boot += pb.Interval.Lo <= spread.Mean && spread.Mean <= pb.Interval.Hi ? 1 : 0;
                    bootHalf += (pb.Interval.Hi - pb.Interval.Lo) / 2;
                }
                var others = spread.Differences.Where((_, k) => k != j).ToList();
                var loo = provenance with { Comparisons = [comparison with { Seeds = comparison.Seeds.Where((_, k) => k != j).ToList(), Metrics = new Dictionary<string, MetricSpread> { [metric] = Of(others) } }] };
                var study = new StudyResults([a, b], new Dictionary<string, IReadOnlyDictionary<string, double>>(), Spread: loo);
                var x = Estimates.Difference(study, a.Variant, b.Variant, metric)!;
                withSpread += x.Lo <= spread.Mean && spread.Mean <= x.Hi ? 1 : 0;
                spreadHalf += (x.Hi - x.Lo) / 2 / pairs.Count;
            }
            rows.Add(new CoverageRow(metric, pairs.Count, spread.Mean, spread.Sd, bootSeeds, boot, bootSeeds == 0 ? double.NaN : bootHalf / bootSeeds, withSpread, spreadHalf));
        }
        return rows;
    }
}

using Fusion.Artifacts.Tables;
using Fusion.Reproduction.Statistics;
using Fusion.Workflow.Pipelines;

namespace Fusion.Reproduction.Report;

/// <summary>
/// What the report reads from its upstream artifacts: every run's metrics, bootstrap replicates and recipe (keyed by
/// the variant name with its seed, as the nodes' [..] hold it), the loss curves, each variant's exact figures and the
/// timing rounds of the measure node, and the reference evaluation (real images) where there is one.
/// </summary>
public sealed record ReportInputs(
    SortedDictionary<string, Dictionary<string, MetricRow>> RunMetrics,
    IReadOnlyDictionary<string, SampleBootstrap> Bootstraps,
    IReadOnlyDictionary<string, string> Recipes,
    IReadOnlyList<Series> Losses,
    SortedDictionary<string, IReadOnlyDictionary<string, double>> Exact,
    TimingRounds? Timing,
    IReadOnlyDictionary<string, MetricRow>? Reference)
{
    /// <summary>The study the claims judge: one run per variant and seed.</summary>
    public StudyResults Study(string? seedSpread, int maxSeeds)
    {
        var study = new StudyResults(
            RunMetrics.Select(kv =>
            {
                var (v, seed) = SeedAxis.Split(kv.Key);
                return new RunResult(v ?? kv.Key, seed, kv.Value.Values.ToDictionary(r => r.Name, r => r.Value), Bootstraps.GetValueOrDefault(kv.Key), Recipes.GetValueOrDefault(kv.Key));
            }).ToList(),
            Exact, Timing, seedSpread is { } spread ? SeedSpread.Parse(spread, "(report param seed_spread)") : null,
            maxSeeds > 0 ? new SequentialDesign(maxSeeds) : null);
        if (study.Design is { } design && study.Runs.Select(r => r.Seed).Distinct().Count() > design.MaxSeeds)
            throw new ArgumentException($"report: the runs hold {study.Runs.Select(r => r.Seed).Distinct().Count()} seeds, more than the sequential design's max_seeds {design.MaxSeeds}");
        return study;
    }

    /// <summary>The label <paramref name="label"/> of the first run metric named <paramref name="metric"/> (e.g. the CLIP Score convention).</summary>
    public string? LabelOf(string metric, string label) =>
        RunMetrics.Values.SelectMany(m => m.Values).FirstOrDefault(r => r.Name == metric)?.Label(label);
}

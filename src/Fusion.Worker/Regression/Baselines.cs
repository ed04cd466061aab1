using System.Text.Json.Serialization;
using Fusion.Worker.Documents;
using Fusion.Worker.Runs;

namespace Fusion.Worker.Regression;

/// <summary>
/// Blessed runs' metrics: what later runs of a schedule are compared to. <see cref="Metrics"/> holds each metric's mean
/// over the blessed runs (with its unit) and <see cref="Spread"/> its seed-to-seed spread. <see cref="RunId"/> is the
/// first blessed run; documents blessed before multi-run blessing have neither <see cref="RunIds"/> nor
/// <see cref="Spread"/> and read as one run without a spread.
/// </summary>
public sealed record Baseline(string Name, string RunId, DateTimeOffset BlessedUtc, string BlessedBy, IReadOnlyDictionary<string, MetricValue> Metrics)
{
    public IReadOnlyList<string>? RunIds { get; init; }

    /// <summary>The pipeline the runs ran (<see cref="IRunMetricsSource.GetPipelineAsync"/>); null in older documents.</summary>
    public string? Pipeline { get; init; }

    public IReadOnlyDictionary<string, MetricSpread>? Spread { get; init; }

    [JsonIgnore] public IReadOnlyList<string> Runs => RunIds is { Count: > 0 } ids ? ids : [RunId];

    /// <summary>The spread of a metric of this baseline; a single value (n = 1, no sd) where none was measured.</summary>
    public MetricSpread SpreadOf(string metric) =>
        Spread?.GetValueOrDefault(metric) ?? new MetricSpread(null, 1, Metrics.TryGetValue(metric, out var v) ? [v.Value] : []);

    /// <summary>"run a" or "3 runs: a, b, c", for reports and logs.</summary>
    [JsonIgnore] public string Description => Runs.Count == 1 ? $"run {RunId}" : $"{Runs.Count} runs: {string.Join(", ", Runs)}";
}

/// <summary>Baselines as documents <c>worker/baselines/&lt;name&gt;.json</c>; blessing again replaces the previous one (kept as history).</summary>
public sealed class Baselines(IDocumentStore documents)
{
    public static string PathOf(string name) => $"worker/baselines/{name}.json";

    public Task<Baseline?> GetAsync(string name, CancellationToken ct = default) => documents.GetAsync<Baseline>(PathOf(name), ct);

    /// <summary>
    /// Stores the metrics of <paramref name="runIds"/> (e.g. one pipeline under several training seeds) as baseline
    /// <paramref name="name"/>: per metric the mean, the sample standard deviation and every replicate's value, where the
    /// seeds of a seed axis are replicates too (<see cref="SeedPooling"/>: one run of a three-seed pipeline has a spread). Refuses a run
    /// without metrics or with a non-finite one (a baseline that cannot be compared would fail every night), runs of
    /// different pipelines, a metric that one run lacks or reports in another unit, and a run named twice (it would
    /// understate the spread).
    /// </summary>
    public async Task<Baseline> BlessAsync(string name, IReadOnlyList<string> runIds, IRunMetricsSource metrics, CancellationToken ct = default)
    {
        if (runIds.Count == 0) throw new ArgumentException("name at least one run to bless", nameof(runIds));
        if (runIds.GroupBy(r => r, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"run '{twice.Key}' is named twice; each run counts once in the spread");

        var runs = new List<(string Id, string Pipeline, SortedDictionary<string, SeedPooling.Pooled> Values)>();
        foreach (var runId in runIds)
        {
            var values = await metrics.GetMetricsAsync(runId, ct)
                ?? throw new InvalidOperationException($"run '{runId}' has no metrics (unknown run, or it has not finished)");
            if (values.Count == 0) throw new InvalidOperationException($"run '{runId}' recorded no metrics; nothing to bless");
            var bad = values.Where(kv => !double.IsFinite(kv.Value.Value)).Select(kv => kv.Key).ToList();
            if (bad.Count > 0) throw new InvalidOperationException($"run '{runId}' has non-finite metrics ({string.Join(", ", bad)}); refusing to bless it");
            var pipeline = await metrics.GetPipelineAsync(runId, ct)
                ?? throw new InvalidOperationException($"run '{runId}' does not record which pipeline it ran");
            runs.Add((runId, pipeline, SeedPooling.Pool(values)));
        }

        var first = runs[0];
        if (runs.FirstOrDefault(r => r.Pipeline != first.Pipeline) is { Id: not null } other)
            throw new InvalidOperationException($"runs are not comparable: '{first.Id}' ran pipeline '{first.Pipeline}', '{other.Id}' ran '{other.Pipeline}'");
        var names = runs.SelectMany(r => r.Values.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var problems = new List<string>();
        foreach (var metric in names)
        {
            var holder = runs.First(r => r.Values.ContainsKey(metric));
            foreach (var run in runs)
                if (!run.Values.TryGetValue(metric, out var value)) problems.Add($"run '{run.Id}' lacks metric '{metric}' (run '{holder.Id}' has it)");
                else if (value.Unit != holder.Values[metric].Unit)
                    problems.Add($"metric '{metric}' is in '{value.Unit}' in run '{run.Id}' but in '{holder.Values[metric].Unit}' in run '{holder.Id}'");
        }
        if (problems.Count > 0) throw new InvalidOperationException("runs are not comparable: " + string.Join("; ", problems));

        var means = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        var spread = new SortedDictionary<string, MetricSpread>(StringComparer.Ordinal);
        foreach (var metric in names)
        {
            // Every seed of every run is one replicate.
            var (mean, s) = MetricSpread.Of(runs.SelectMany(r => r.Values[metric].Values).ToList());
            means[metric] = new MetricValue(mean, first.Values[metric].Unit);
            spread[metric] = s;
        }
        var baseline = new Baseline(name, first.Id, DateTimeOffset.UtcNow, Environment.UserName, means)
        {
            RunIds = runIds.ToList(), Pipeline = first.Pipeline, Spread = spread,
        };
        if (await GetAsync(name, ct) is { } previous)
            await documents.PutAsync($"worker/baselines/history/{name}/{previous.BlessedUtc:yyyyMMddTHHmmssfff}-{previous.RunId}.json", WorkerJson.Serialize(previous), ct);
        await documents.PutAsync(PathOf(name), WorkerJson.Serialize(baseline), ct);
        return baseline;
    }
}

using Fusion.Worker.Documents;
using Fusion.Worker.Runs;

namespace Fusion.Worker.Regression;

/// <summary>A blessed run's metrics: what later runs of a schedule are compared to.</summary>
public sealed record Baseline(string Name, string RunId, DateTimeOffset BlessedUtc, string BlessedBy, IReadOnlyDictionary<string, MetricValue> Metrics);

/// <summary>Baselines as documents <c>worker/baselines/&lt;name&gt;.json</c>; blessing again replaces the previous one (kept as history).</summary>
public sealed class Baselines(IDocumentStore documents)
{
    public static string PathOf(string name) => $"worker/baselines/{name}.json";

    public Task<Baseline?> GetAsync(string name, CancellationToken ct = default) => documents.GetAsync<Baseline>(PathOf(name), ct);

    /// <summary>Stores the metrics of <paramref name="runId"/> as baseline <paramref name="name"/>. Refuses a run without
    /// metrics or with a non-finite one (a baseline that cannot be compared would fail every night).</summary>
    public async Task<Baseline> BlessAsync(string name, string runId, IRunMetricsSource metrics, CancellationToken ct = default)
    {
        var values = await metrics.GetMetricsAsync(runId, ct)
            ?? throw new InvalidOperationException($"run '{runId}' has no metrics (unknown run, or it has not finished)");
        if (values.Count == 0) throw new InvalidOperationException($"run '{runId}' recorded no metrics; nothing to bless");
        var bad = values.Where(kv => !double.IsFinite(kv.Value.Value)).Select(kv => kv.Key).ToList();
        if (bad.Count > 0) throw new InvalidOperationException($"run '{runId}' has non-finite metrics ({string.Join(", ", bad)}); refusing to bless it");
        var baseline = new Baseline(name, runId, DateTimeOffset.UtcNow, Environment.UserName,
            new SortedDictionary<string, MetricValue>(values.ToDictionary(), StringComparer.Ordinal));
        if (await GetAsync(name, ct) is { } previous)
            await documents.PutAsync($"worker/baselines/history/{name}/{previous.BlessedUtc:yyyyMMddTHHmmssfff}-{previous.RunId}.json", WorkerJson.Serialize(previous), ct);
        await documents.PutAsync(PathOf(name), WorkerJson.Serialize(baseline), ct);
        return baseline;
    }
}

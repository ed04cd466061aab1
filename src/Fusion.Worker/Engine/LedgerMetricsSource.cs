using System.Globalization;
using Fusion.Artifacts.Store;
using Fusion.Worker.Documents;
using Fusion.Worker.Runs;
using Fusion.Workflow.Execution;

namespace Fusion.Worker.Engine;

/// <summary>
/// A run's metrics from the engine's ledger: every node of the run whose manifest summary has entries
/// <c>metric.NAME = "VALUE UNIT"</c> (e.g. <c>metric.fid = "12.41 FID"</c>) contributes them. Finds the engine run by the
/// worker's run id directly (distributed runs) or through <c>worker/runs/&lt;run&gt;/engine-run.json</c> (in-process runs).
/// A value that does not parse becomes NaN, which the regression check reports as incomparable.
/// </summary>
public sealed class LedgerMetricsSource(IArtifactStore store, IDocumentStore documents) : IRunMetricsSource
{
    public const string Prefix = "metric.";

    public async Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct)
    {
        var ledger = new EngineDocuments(store);
        var run = await ledger.GetRunAsync(runId, ct);
        if (run is null && await documents.GetAsync<EngineRunLauncher.EngineRunLink>($"worker/runs/{runId}/engine-run.json", ct) is { } link)
            run = await ledger.GetRunAsync(link.EngineRunId, ct);
        if (run is null) return null;
        var metrics = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        foreach (var node in run.Nodes.Where(n => n.State is NodeState.Ran or NodeState.Cached))
        {
            var summary = (await store.GetManifestAsync(node.Fingerprint, ct: ct)).Manifest?.Info.Summary;
            foreach (var (key, text) in summary ?? new Dictionary<string, string>())
                if (key.StartsWith(Prefix, StringComparison.Ordinal)) metrics[key[Prefix.Length..]] = Parse(text);
        }
        return metrics;
    }

    public static MetricValue Parse(string text)
    {
        var space = text.IndexOf(' ');
        var number = space < 0 ? text : text[..space];
        var unit = space < 0 ? "" : text[(space + 1)..].Trim();
        return new MetricValue(double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN, unit);
    }
}

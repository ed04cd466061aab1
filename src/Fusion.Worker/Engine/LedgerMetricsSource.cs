using System.Globalization;
using Fusion.Artifacts.Store;
using Fusion.Worker.Documents;
using Fusion.Worker.Runs;
using Fusion.Workflow.Execution;

namespace Fusion.Worker.Engine;

/// <summary>
/// A run's metrics from the engine's ledger: every numeric entry of a node's manifest summary ("VALUE" or "VALUE UNIT",
/// e.g. evaluate[early-concat] writes fid = "12.410") becomes the metric <c>NODE.KEY</c> ("evaluate[early-concat].fid");
/// non-numeric entries are not metrics. Rules select what is checked (<c>"*.fid"</c>) and
/// <see cref="Regression.RegressionOptions.Ignore"/> drops the rest. Finds the engine run by the worker's run id
/// directly (distributed runs) or through <c>worker/runs/&lt;run&gt;/engine-run.json</c> (in-process runs).
/// </summary>
public sealed class LedgerMetricsSource(IArtifactStore store, IDocumentStore documents) : IRunMetricsSource
{
    public async Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct)
    {
        if (await FindRunAsync(runId, ct) is not { } run) return null;
        var metrics = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        foreach (var node in run.Nodes.Where(n => n.State is NodeState.Ran or NodeState.Cached))
        {
            var summary = (await store.GetManifestAsync(node.Fingerprint, ct: ct)).Manifest?.Info.Summary;
            foreach (var (key, text) in summary ?? new Dictionary<string, string>())
                if (Parse(text) is { } value) metrics[$"{node.NodeId}.{key}"] = value;
        }
        return metrics;
    }

    public async Task<string?> GetPipelineAsync(string runId, CancellationToken ct) =>
        await FindRunAsync(runId, ct) is { } run ? run.Pipeline + (run.Profile is { } profile ? $" --profile {profile}" : "") : null;

    private async Task<RunRecord?> FindRunAsync(string runId, CancellationToken ct)
    {
        var ledger = new EngineDocuments(store);
        var run = await ledger.GetRunAsync(runId, ct);
        if (run is null && await documents.GetAsync<EngineRunLauncher.EngineRunLink>($"worker/runs/{runId}/engine-run.json", ct) is { } link)
            run = await ledger.GetRunAsync(link.EngineRunId, ct);
        return run;
    }

    /// <summary>"12.41" or "12.41 FID" (also "NaN"); null when the text does not start with a number.</summary>
    public static MetricValue? Parse(string text)
    {
        var trimmed = text.Trim();
        var space = trimmed.IndexOf(' ');
        var number = space < 0 ? trimmed : trimmed[..space];
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? new MetricValue(v, space < 0 ? "" : trimmed[(space + 1)..].Trim())
            : null;
    }
}

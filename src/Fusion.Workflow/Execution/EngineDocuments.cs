using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Execution;

/// <summary>The engine's documents in a store: run ledger (runs/ID.json), node index (nodes/PIPELINE/ID.json), pins (pins.json).</summary>
public sealed class EngineDocuments(IArtifactStore store)
{
    private readonly SemaphoreSlim gate = new(1, 1);

    public static string RunPath(string runId) => $"runs/{runId}.json";
    public static string IndexPath(string pipeline, string nodeId) => $"nodes/{Uri.EscapeDataString(pipeline)}/{Uri.EscapeDataString(nodeId)}.json";

    public async Task SaveRunAsync(RunRecord run, CancellationToken ct = default)
    {
        await gate.WaitAsync(CancellationToken.None);
        try { await store.PutDocumentAsync(RunPath(run.RunId), ManifestJson.Serialize(run), CancellationToken.None); }
        finally { gate.Release(); }
    }

    public async Task<RunRecord?> GetRunAsync(string runId, CancellationToken ct = default) =>
        ManifestJson.Deserialize<RunRecord>(await store.GetDocumentAsync(RunPath(runId), ct));

    /// <summary>Run ids, newest first.</summary>
    public async Task<IReadOnlyList<string>> ListRunsAsync(CancellationToken ct = default)
    {
        var ids = new List<string>();
        await foreach (var path in store.ListDocumentsAsync("runs/", ct))
            if (path.EndsWith(".json", StringComparison.Ordinal)) ids.Add(path["runs/".Length..^".json".Length]);
        return ids.OrderDescending(StringComparer.Ordinal).ToList();
    }

    /// <summary>The run whose id is or starts with <paramref name="idOrPrefix"/>; the newest when null.</summary>
    public async Task<RunRecord?> FindRunAsync(string? idOrPrefix, CancellationToken ct = default)
    {
        var ids = await ListRunsAsync(ct);
        var match = idOrPrefix is null ? ids.FirstOrDefault() : ids.FirstOrDefault(i => i == idOrPrefix) ?? ids.FirstOrDefault(i => i.StartsWith(idOrPrefix, StringComparison.Ordinal));
        return match is null ? null : await GetRunAsync(match, ct);
    }

    public async Task<NodeIndexEntry?> GetIndexAsync(string pipeline, string nodeId, CancellationToken ct = default) =>
        ManifestJson.Deserialize<NodeIndexEntry>(await store.GetDocumentAsync(IndexPath(pipeline, nodeId), ct));

    public Task PutIndexAsync(string pipeline, NodeIndexEntry entry, CancellationToken ct = default) =>
        store.PutDocumentAsync(IndexPath(pipeline, entry.NodeId), ManifestJson.Serialize(entry), ct);

    public async Task<IReadOnlyList<string>> GetPinsAsync(CancellationToken ct = default) =>
        ManifestJson.Deserialize<List<string>>(await store.GetDocumentAsync("pins.json", ct)) ?? [];

    public Task SetPinsAsync(IEnumerable<string> runIds, CancellationToken ct = default) =>
        store.PutDocumentAsync("pins.json", ManifestJson.Serialize(runIds.Distinct().Order(StringComparer.Ordinal).ToList()), ct);
}

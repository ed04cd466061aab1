using System.Text.Json;
using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Execution;

/// <summary>
/// The engine's documents in a store: run ledger (runs/ID.json), node index (nodes/PIPELINE/ID.json), pins (pins.json).
/// A document that exists but cannot be read comes back as a <see cref="DocumentRead{T}"/> error (Read… methods) or
/// throws <see cref="DocumentCorruptException"/> naming it (Get… methods); none is ever deleted for it.
/// </summary>
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

    /// <summary>The run's ledger entry, or null; throws <see cref="DocumentCorruptException"/> when it cannot be read.</summary>
    public async Task<RunRecord?> GetRunAsync(string runId, CancellationToken ct = default) => (await ReadRunAsync(runId, ct)).OrThrow();

    public Task<DocumentRead<RunRecord>> ReadRunAsync(string runId, CancellationToken ct = default) =>
        ReadAsync<RunRecord>(RunPath(runId), r => r.Nodes is { } nodes && nodes.All(n => n?.NodeId is not null && n.Fingerprint is not null), ct);

    /// <summary>Run ids, newest first.</summary>
    public async Task<IReadOnlyList<string>> ListRunsAsync(CancellationToken ct = default)
    {
        var ids = new List<string>();
        await foreach (var path in store.ListDocumentsAsync("runs/", ct))
            if (path.EndsWith(".json", StringComparison.Ordinal)) ids.Add(path["runs/".Length..^".json".Length]);
        return ids.OrderDescending(StringComparer.Ordinal).ToList();
    }

    /// <summary>The id of the run that is or starts with <paramref name="idOrPrefix"/>; the newest when null.</summary>
    public async Task<string?> FindRunIdAsync(string? idOrPrefix, CancellationToken ct = default)
    {
        var ids = await ListRunsAsync(ct);
        return idOrPrefix is null ? ids.FirstOrDefault() : ids.FirstOrDefault(i => i == idOrPrefix) ?? ids.FirstOrDefault(i => i.StartsWith(idOrPrefix, StringComparison.Ordinal));
    }

    /// <summary>The run <see cref="FindRunIdAsync"/> finds; throws <see cref="DocumentCorruptException"/> when it cannot be read.</summary>
    public async Task<RunRecord?> FindRunAsync(string? idOrPrefix, CancellationToken ct = default) =>
        await FindRunIdAsync(idOrPrefix, ct) is { } id ? await GetRunAsync(id, ct) : null;

    public Task<DocumentRead<NodeIndexEntry>> ReadIndexAsync(string pipeline, string nodeId, CancellationToken ct = default) =>
        ReadAsync<NodeIndexEntry>(IndexPath(pipeline, nodeId), e => e.NodeId is not null && e.Fingerprint is not null && e.Parts is not null, ct);

    public Task PutIndexAsync(string pipeline, NodeIndexEntry entry, CancellationToken ct = default) =>
        store.PutDocumentAsync(IndexPath(pipeline, entry.NodeId), ManifestJson.Serialize(entry), ct);

    /// <summary>Pinned run ids; throws <see cref="DocumentCorruptException"/> when pins.json cannot be read (gc must not guess).</summary>
    public async Task<IReadOnlyList<string>> GetPinsAsync(CancellationToken ct = default) => (await ReadPinsAsync(ct)).OrThrow() ?? [];

    public Task<DocumentRead<List<string>>> ReadPinsAsync(CancellationToken ct = default) =>
        ReadAsync<List<string>>("pins.json", pins => pins.All(p => p is not null), ct);

    public Task SetPinsAsync(IEnumerable<string> runIds, CancellationToken ct = default) =>
        store.PutDocumentAsync("pins.json", ManifestJson.Serialize(runIds.Distinct().Order(StringComparer.Ordinal).ToList()), ct);

    /// <param name="complete">Whether a parsed document has what readers rely on (JSON of another shape parses, too).</param>
    private async Task<DocumentRead<T>> ReadAsync<T>(string path, Func<T, bool> complete, CancellationToken ct) where T : class
    {
        if (await store.GetDocumentAsync(path, ct) is not { } bytes) return new(null, null);
        string problem;
        try
        {
            if (ManifestJson.Deserialize<T>(bytes) is { } value && complete(value)) return new(value, null);
            problem = $"not a {typeof(T).Name} document";
        }
        catch (JsonException e) { problem = e.Message; }
        return new(null, new DocumentCorruptException(store.DescribeDocument(path), problem));
    }
}

using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Execution;

/// <summary>What `gc` removes or would remove.</summary>
public sealed record GcReport(IReadOnlyList<Manifest> Deleted, int Kept, long BytesFreed);

/// <summary>
/// Deletes artifacts that nothing references: not a node of the current plans, not a node of a pinned run, and not
/// committed within the grace period (so a run committing right now is never collected).
/// </summary>
public static class GarbageCollector
{
    public static async Task<IReadOnlySet<string>> PinnedFingerprintsAsync(IArtifactStore store, CancellationToken ct = default)
    {
        var documents = new EngineDocuments(store);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var runId in await documents.GetPinsAsync(ct))
            if (await documents.GetRunAsync(runId, ct) is { } run)
                keep.UnionWith(run.Nodes.Select(n => n.Fingerprint));
        return keep;
    }

    public static async Task<GcReport> CollectAsync(IArtifactStore store, IReadOnlySet<string> referenced, TimeSpan grace, bool dryRun, CancellationToken ct = default)
    {
        var keep = new HashSet<string>(referenced, StringComparer.Ordinal);
        keep.UnionWith(await PinnedFingerprintsAsync(store, ct));
        var deleted = new List<Manifest>();
        var kept = 0;
        var cutoff = DateTimeOffset.UtcNow - grace;
        var all = new List<string>();
        await foreach (var fp in store.ListArtifactsAsync(ct)) all.Add(fp);
        foreach (var fp in all)
        {
            if (keep.Contains(fp)) { kept++; continue; }
            var manifest = (await store.GetManifestAsync(fp, false, ct)).Manifest;
            if (manifest is not null && manifest.CommittedUtc > cutoff) { kept++; continue; }
            if (manifest is not null) deleted.Add(manifest);
            if (!dryRun) await store.DeleteArtifactAsync(fp, ct);
        }
        return new GcReport(deleted, kept, deleted.Sum(m => m.TotalBytes));
    }
}

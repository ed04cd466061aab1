using System.Text.Json;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;

namespace Fusion.Workflow.Execution;

/// <summary>What `gc` removes or would remove, and what it kept for whom.</summary>
public sealed record GcReport(IReadOnlyList<Manifest> Deleted, int Kept, long BytesFreed)
{
    /// <summary>Runs in progress (their claims are held): everything they read or write was kept.</summary>
    public IReadOnlyList<LiveRunRecord> LiveRuns { get; init; } = [];

    /// <summary>Runs whose claim died without them finishing (crashed): they protect nothing any more.</summary>
    public IReadOnlyList<string> ExpiredRuns { get; init; } = [];

    /// <summary>Why nothing was deleted: something gc must keep cannot be resolved (a pin without its run document,
    /// a live run whose document is unreadable). Empty when gc ran normally.</summary>
    public IReadOnlyList<string> HeldBack { get; init; } = [];

    /// <summary>Local store: staging, scratch and manifest-less folders removed (never on a dry run).</summary>
    public int LeftoverFolders { get; init; }

    /// <summary>Blob store: upload folders of unfinished commits removed (or, on a dry run, that would be).</summary>
    public BlobArtifactStore.Leftovers? LeftoverUploads { get; init; }
}

/// <summary>
/// Deletes artifacts that nothing references: not a node of the current plans, not named by a live run (see
/// <see cref="LiveRuns"/>), not a node of a pinned run, and not committed within the grace period. A pin whose run
/// document is missing or unreadable, or a live run whose document is unreadable, stops the collection: what they
/// need is unknown, so everything is kept and the report says why.
/// </summary>
public static class GarbageCollector
{
    /// <summary>The fingerprints of the pinned runs, and the pins that cannot be resolved (and why).</summary>
    public static async Task<(IReadOnlySet<string> Keep, IReadOnlyList<string> Unresolved)> PinnedFingerprintsAsync(IArtifactStore store, CancellationToken ct = default)
    {
        var documents = new EngineDocuments(store);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        var unresolved = new List<string>();
        foreach (var runId in await documents.GetPinsAsync(ct))
        {
            RunRecord? run;
            try { run = await documents.GetRunAsync(runId, ct); }
            catch (JsonException) { unresolved.Add($"pinned run {runId}: its run document {EngineDocuments.RunPath(runId)} is unreadable"); continue; }
            if (run is null) unresolved.Add($"pinned run {runId}: its run document {EngineDocuments.RunPath(runId)} is missing");
            else keep.UnionWith(run.Nodes.Select(n => n.Fingerprint));
        }
        return (keep, unresolved);
    }

    public static async Task<GcReport> CollectAsync(IArtifactStore store, IReadOnlySet<string> referenced, TimeSpan grace, bool dryRun, CancellationToken ct = default)
    {
        await using var gate = await LiveRuns.LockForGcAsync(store, ct);
        var census = await LiveRuns.ReadAsync(store, dryRun, ct);
        var (pinned, unresolved) = await PinnedFingerprintsAsync(store, ct);
        var keep = new HashSet<string>(referenced, StringComparer.Ordinal);
        keep.UnionWith(census.Live.SelectMany(r => r.Fingerprints));
        keep.UnionWith(pinned);
        var heldBack = unresolved.Concat(census.Unreadable.Select(p => $"a live run's document {p} is unreadable")).ToList();
        var all = new List<string>();
        await foreach (var fp in store.ListArtifactsAsync(ct)) all.Add(fp);
        if (heldBack.Count > 0)
            return new GcReport([], all.Count, 0) { LiveRuns = census.Live, ExpiredRuns = census.Expired, HeldBack = heldBack };

        var deleted = new List<Manifest>();
        var kept = 0;
        var cutoff = DateTimeOffset.UtcNow - grace;
        foreach (var fp in all)
        {
            if (keep.Contains(fp)) { kept++; continue; }
            var manifest = (await store.GetManifestAsync(fp, false, ct)).Manifest;
            if (manifest is not null && manifest.CommittedUtc > cutoff) { kept++; continue; }
            if (manifest is not null) deleted.Add(manifest);
            if (!dryRun) await store.DeleteArtifactAsync(fp, ct);
        }
        return new GcReport(deleted, kept, deleted.Sum(m => m.TotalBytes))
        {
            LiveRuns = census.Live,
            ExpiredRuns = census.Expired,
            // What crashed processes left behind; scratch of a kept fingerprint may be resumed by a run.
            LeftoverFolders = !dryRun && store is LocalArtifactStore local ? await local.CleanLeftoversAsync(keep, ct) : 0,
            LeftoverUploads = store is BlobArtifactStore blob ? await blob.CleanLeftoversAsync(grace, dryRun, ct) : null,
        };
    }
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fusion.Artifacts.Store;
using Fusion.Workflow.Fingerprints;

namespace Fusion.Workflow.Execution;

/// <summary>What a live run tells gc (document live/KEY.json): the fingerprints it reads and writes.</summary>
public sealed record LiveRunRecord(string RunId, IReadOnlyList<string> Fingerprints, string Host, int ProcessId, DateTimeOffset StartedUtc);

/// <summary>
/// Makes runs in progress visible to gc. A run holds the store's ordinary claim (an OS file lock locally, a renewed
/// blob lease on Azure) under a key derived from its document's name, for as long as it runs; the document lists the
/// planned nodes' fingerprints and their inputs. gc keeps what a document names while its claim is held; a crashed
/// run's claim dies with it (the lock at once, the lease when it expires), and then its document no longer protects.
/// Registering and collecting take turns on one more claim (the gc gate), so a run that starts while gc is deciding
/// waits until gc is done instead of planning on artifacts that are about to go.
/// </summary>
public static class LiveRuns
{
    public const string Folder = "live/";
    private static readonly string GcGate = Key("gc");

    /// <summary>Claims are keyed like fingerprints (lower-case hex), so names are hashed into one.</summary>
    private static string Key(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("live:" + name)));

    private static string DocumentPath(string key) => $"{Folder}{key}.json";

    /// <summary>The planned nodes' fingerprints and those of their inputs (which may lie outside the selection).</summary>
    public static IEnumerable<string> Fingerprints(IEnumerable<PlannedNode> nodes) =>
        nodes.SelectMany(n => n.InputFingerprints.Values.SelectMany(v => v).Prepend(n.Fingerprint));

    /// <summary>Announces a run; disposing the result withdraws it (a crash lets its claim die instead).</summary>
    public static async Task<IAsyncDisposable> RegisterAsync(IArtifactStore store, string runId, IEnumerable<string> fingerprints, CancellationToken ct = default)
    {
        // One run id may be announced twice (submit attaching to a hub run again), so the document name is unique.
        var name = $"{runId}.{Guid.NewGuid():N}";
        var record = new LiveRunRecord(runId, fingerprints.Distinct().Order(StringComparer.Ordinal).ToList(), Environment.MachineName, Environment.ProcessId, DateTimeOffset.UtcNow);
        await using (await store.ClaimAsync(GcGate, ct))
        {
            var claim = await store.ClaimAsync(Key(name), ct);
            try { await store.PutDocumentAsync(DocumentPath(name), ManifestJson.Serialize(record), ct); }
            catch
            {
                await claim.DisposeAsync();
                throw;
            }
            return new Registration(store, name, claim);
        }
    }

    private sealed class Registration(IArtifactStore store, string name, IAsyncDisposable claim) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            // Document first: without its claim it would only read as a crashed run until the next gc removes it.
            try { await store.DeleteDocumentAsync(DocumentPath(name), CancellationToken.None); }
            finally { await claim.DisposeAsync(); }
        }
    }

    /// <summary>Holds off new runs while gc decides and deletes.</summary>
    public static Task<IAsyncDisposable> LockForGcAsync(IArtifactStore store, CancellationToken ct = default) => store.ClaimAsync(GcGate, ct);

    /// <summary>What the live documents say: the live runs, the runs whose claim died (their documents are removed
    /// unless <paramref name="dryRun"/>), and documents of live runs that cannot be read (so what they need is unknown).</summary>
    public sealed record Census(IReadOnlyList<LiveRunRecord> Live, IReadOnlyList<string> Expired, IReadOnlyList<string> Unreadable);

    /// <summary>Reads every live document and checks its claim. Call it under <see cref="LockForGcAsync"/>.</summary>
    public static async Task<Census> ReadAsync(IArtifactStore store, bool dryRun, CancellationToken ct = default)
    {
        var (live, expired, unreadable) = (new List<LiveRunRecord>(), new List<string>(), new List<string>());
        var paths = new List<string>();
        await foreach (var path in store.ListDocumentsAsync(Folder, ct))
            if (path.EndsWith(".json", StringComparison.Ordinal)) paths.Add(path);
        foreach (var path in paths)
        {
            var name = path[Folder.Length..^".json".Length];
            LiveRunRecord? record = null;
            try { record = ManifestJson.Deserialize<LiveRunRecord>(await store.GetDocumentAsync(path, ct)); }
            catch (JsonException) { }
            if (await store.IsClaimedAsync(Key(name), ct))
            {
                if (record?.Fingerprints is null) unreadable.Add(path);
                else live.Add(record);
                continue;
            }
            // Its holder is gone (or it just finished, and its own cleanup is a moment behind).
            expired.Add(record?.RunId ?? name);
            if (!dryRun) await store.DeleteDocumentAsync(path, ct);
        }
        return new Census(live, expired, unreadable);
    }
}

namespace Fusion.Artifacts.Store;

/// <summary>
/// Where committed node outputs live: the local folder store (default) or Azure Blob. Artifacts are addressed by the
/// producing node's fingerprint (lower-case hex). An artifact exists for readers only once its manifest is committed;
/// the manifest is written last and create-only, so a reader never sees half an artifact and two committers never
/// overwrite each other.
/// </summary>
public interface IArtifactStore : IAsyncDisposable
{
    /// <summary>Human-readable location without secrets (e.g. "/home/me/.fusion" or "azure://acct/container/prefix").</summary>
    string Location { get; }

    /// <summary>
    /// The committed manifest of <paramref name="fingerprint"/>, or null when there is none or when it is broken
    /// (a listed file missing, or of another size; with <paramref name="verifyHashes"/> also a SHA-256 mismatch).
    /// A broken manifest is reported through <paramref name="problem"/> and treated as absent, never half-used.
    /// </summary>
    Task<ManifestLookup> GetManifestAsync(string fingerprint, bool verifyHashes = false, CancellationToken ct = default);

    /// <summary>A fresh private local folder for a node to write its outputs into. Nothing in it is visible to readers.</summary>
    Task<StagingArea> BeginStagingAsync(string fingerprint, CancellationToken ct = default);

    /// <summary>
    /// Commits every file of <paramref name="staging"/> (hashing each), then the manifest, create-only. Returns the
    /// committed manifest; when another committer won the race, returns theirs (same fingerprint ⇒ same result).
    /// The staging folder is consumed.
    /// </summary>
    Task<Manifest> CommitAsync(StagingArea staging, ManifestInfo info, CancellationToken ct = default);

    /// <summary>Throws away a staging folder that will not be committed (a failed or interrupted node).</summary>
    Task AbortStagingAsync(StagingArea staging, CancellationToken ct = default)
    {
        if (Directory.Exists(staging.Directory)) Directory.Delete(staging.Directory, recursive: true);
        return Task.CompletedTask;
    }

    /// <summary>
    /// A local, read-only path of one committed file (the file itself for the local store; a verified read-through
    /// cache entry for remote stores). Throws <see cref="ArtifactCorruptException"/> when the bytes do not match the
    /// manifest.
    /// </summary>
    Task<string> GetLocalPathAsync(Manifest manifest, string fileName, CancellationToken ct = default);

    /// <summary>
    /// Durable scratch space for a node's own checkpoints, keyed by its fingerprint: an interrupted node's rerun finds
    /// what the previous attempt left there. Deleted by the engine after a successful commit.
    /// </summary>
    Task<string> GetScratchDirectoryAsync(string fingerprint, CancellationToken ct = default);

    /// <summary>Deletes a node's scratch space (after its output is committed).</summary>
    Task DeleteScratchAsync(string fingerprint, CancellationToken ct = default);

    /// <summary>
    /// Exclusive claim on computing <paramref name="fingerprint"/>: waits while another process (or machine) holds it.
    /// The claim dies with its holder (OS file lock, or a blob lease that is renewed while held).
    /// </summary>
    Task<IAsyncDisposable> ClaimAsync(string fingerprint, CancellationToken ct = default);

    /// <summary>Whether a live holder has the claim on <paramref name="fingerprint"/> now (does not wait). A dead
    /// holder's claim reads as free: its lock died with it, or its lease expired.</summary>
    Task<bool> IsClaimedAsync(string fingerprint, CancellationToken ct = default);

    /// <summary>Who holds the claim on <paramref name="fingerprint"/>, as its holder recorded it; null when unknown
    /// (free, not recorded yet, or a store that does not record holders). Reads only; never fails for want of it.</summary>
    Task<ClaimHolder?> GetClaimHolderAsync(string fingerprint, CancellationToken ct = default) => Task.FromResult<ClaimHolder?>(null);

    /// <summary>All committed artifact fingerprints.</summary>
    IAsyncEnumerable<string> ListArtifactsAsync(CancellationToken ct = default);

    /// <summary>Deletes one artifact: manifest first (so it stops existing at once), then its files.</summary>
    Task DeleteArtifactAsync(string fingerprint, CancellationToken ct = default);

    // Small JSON documents: the run ledger, node index, pins, baselines. Paths are relative, '/'-separated.

    /// <summary>Writes a document atomically (readers see the old or the new content, never a mix).</summary>
    Task PutDocumentAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default);

    /// <summary>The document's bytes, or null when it does not exist.</summary>
    Task<byte[]?> GetDocumentAsync(string path, CancellationToken ct = default);

    /// <summary>Paths of documents under a prefix.</summary>
    IAsyncEnumerable<string> ListDocumentsAsync(string prefix, CancellationToken ct = default);

    Task DeleteDocumentAsync(string path, CancellationToken ct = default);

    /// <summary>Where a document lives, as messages name it: its file, or its blob (never a secret).</summary>
    string DescribeDocument(string path) => $"{Location}: document {path}";
}

using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Fusion.Artifacts.Store;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// Artifact store in an Azure Blob container (layout: <see cref="BlobLayout"/>). Commits upload the files into the
/// staging area's own folder (in parallel blocks with per-block MD5 checked by the service, SHA-256 computed on the
/// way), then create the manifest with If-None-Match: * so the first committer wins and later ones get its manifest.
/// Readers trust only manifests whose files are all present with the right sizes. Claims are renewed blob leases.
/// Files are read through a local, verified, size-bounded <see cref="ContentCache"/>, which also takes in the files
/// this machine committed. Staging and scratch are local folders: scratch is per machine (a rerun on another machine
/// starts without the previous attempt's checkpoints).
/// </summary>
public sealed class BlobArtifactStore : IArtifactStore
{
    /// <summary>Pinned below the SDK's default (2026-10-06) because Azurite 3.37 rejects newer versions; the blob
    /// features used here are all older than this version, so real storage behaves the same.</summary>
    public const BlobClientOptions.ServiceVersion ServiceVersion = BlobClientOptions.ServiceVersion.V2026_06_06;

    private readonly BlobContainerClient _container;
    private readonly BlobStoreOptions _options;
    private readonly BlobResilience _resilience;
    private readonly BlobTransfer _transfer;
    private readonly string _work;

    private BlobArtifactStore(BlobStoreAddress address, BlobContainerClient container, BlobStoreOptions options, BlobResilience resilience)
    {
        Address = address;
        _container = container;
        _options = options;
        _resilience = resilience;
        _transfer = new BlobTransfer(resilience, options);
        var fusionHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fusion");
        _work = Path.GetFullPath(options.WorkDirectory ??
                                 Path.Combine([fusionHome, "azure", address.Account, address.Container, .. address.Prefix.Split('/', StringSplitOptions.RemoveEmptyEntries)]));
        Cache = new ContentCache(options.CacheDirectory ?? Path.Combine(fusionHome, "blob-cache"), options.CacheMaxBytes);
    }

    public BlobStoreAddress Address { get; }
    public string Location => Address.ToString();
    public ContentCache Cache { get; }

    /// <summary>
    /// Opens <c>azure://ACCOUNT/CONTAINER[/PREFIX]</c> with <paramref name="credential"/>, creating the container when
    /// allowed, and checks access at once (wrong credentials fail here with a <see cref="BlobStoreException"/>).
    /// </summary>
    public static Task<BlobArtifactStore> OpenAsync(string location, BlobCredential credential, BlobStoreOptions? options = null, CancellationToken ct = default) =>
        OpenAsync(BlobStoreAddress.Parse(location), credential, options, ct);

    public static async Task<BlobArtifactStore> OpenAsync(BlobStoreAddress address, BlobCredential credential, BlobStoreOptions? options = null, CancellationToken ct = default)
    {
        options ??= new BlobStoreOptions();
        if (options.LeaseDuration < TimeSpan.FromSeconds(15) || options.LeaseDuration > TimeSpan.FromSeconds(60))
            throw new ArgumentOutOfRangeException(nameof(options), $"LeaseDuration must be 15-60 s (blob lease limits), got {options.LeaseDuration}");
        var clientOptions = new BlobClientOptions(ServiceVersion);
        clientOptions.Retry.MaxRetries = Math.Max(0, options.SdkMaxRetries);
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        var service = credential.CreateServiceClient(address, options.ServiceEndpoint, clientOptions);
        var resilience = new BlobResilience(options, credential.Secrets(), address.ToString());
        var store = new BlobArtifactStore(address, service.GetBlobContainerClient(address.Container), options, resilience);
        await store.CheckAccessAsync(ct).ConfigureAwait(false);
        return store;
    }

    private async Task CheckAccessAsync(CancellationToken ct)
    {
        if (_options.CreateContainer)
        {
            try
            {
                await _resilience.RunAsync("create the container", _options.OperationTimeout,
                    c => _container.CreateIfNotExistsAsync(cancellationToken: c), ct).ConfigureAwait(false);
            }
            catch (BlobStoreException e) when (e.Status == 403)
            {
                // maybe no account-level right (e.g. a container SAS): the listing below says whether we can work
            }
        }
        await _resilience.RunAsync("list the container", _options.OperationTimeout, async c =>
        {
            await foreach (var _ in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = Name(BlobLayout.ManifestFolder) }, c)
                               .AsPages(pageSizeHint: 1).WithCancellation(c).ConfigureAwait(false))
                break;
        }, ct).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- manifests

    public async Task<ManifestLookup> GetManifestAsync(string fingerprint, bool verifyHashes = false, CancellationToken ct = default) =>
        (await ReadManifestAsync(CheckFingerprint(fingerprint), verifyHashes, ct).ConfigureAwait(false)).Lookup;

    private async Task<(ManifestLookup Lookup, ETag? ETag)> ReadManifestAsync(string fp, bool verifyHashes, CancellationToken ct)
    {
        var (blob, json, etag) = await DownloadManifestAsync(fp, ct).ConfigureAwait(false);
        if (json is null) return (ManifestLookup.Absent, null);

        Manifest m;
        try { m = ManifestJson.Deserialize(json, $"{Location}/{blob.Name}"); }
        catch (InvalidDataException e) { return (new ManifestLookup(null, e.Message), etag); }
        if (m.Fingerprint != fp)
            return (new ManifestLookup(null, $"{Location}/{blob.Name}: manifest is for fingerprint {m.Fingerprint}"), etag);

        var problems = new List<string>();
        var sizes = (await ListAsync(BlobLayout.FilesPrefix(m), ct).ConfigureAwait(false))
            .ToDictionary(i => i.Name, i => i.Properties.ContentLength ?? -1, StringComparer.Ordinal);
        foreach (var f in m.Files)
        {
            if (!sizes.TryGetValue(Name(BlobLayout.FileOf(m, f)), out var size)) problems.Add($"file '{f.Name}' is missing");
            else if (size != f.Size) problems.Add($"file '{f.Name}' has {size} bytes, the manifest says {f.Size}");
        }
        if (problems.Count == 0 && verifyHashes)
        {
            var bad = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Parallel.ForEachAsync(m.Files, new ParallelOptions { MaxDegreeOfParallelism = _options.FileConcurrency, CancellationToken = ct }, async (f, c) =>
            {
                var sha = await HashBlobAsync(BlobLayout.FileOf(m, f), f.Size, c).ConfigureAwait(false);
                if (sha != f.Sha256) bad.Add($"file '{f.Name}' has SHA-256 {sha}, the manifest says {f.Sha256}");
            }).ConfigureAwait(false);
            problems.AddRange(bad.Order(StringComparer.Ordinal));
        }
        return problems.Count == 0
            ? (new ManifestLookup(m, null), etag)
            : (new ManifestLookup(null, $"{Location}: artifact {fp} ({m.Info.NodeId}) is broken, treated as absent: {string.Join("; ", problems)}"), etag);
    }

    /// <summary>The manifest blob's bytes and ETag (null, null when there is none).</summary>
    private async Task<(BlobClient Blob, byte[]? Json, ETag? ETag)> DownloadManifestAsync(string fp, CancellationToken ct)
    {
        var blob = Blob(BlobLayout.Manifest(fp));
        var (json, etag) = await _resilience.RunAsync($"read manifest '{blob.Name}'", _options.OperationTimeout, async c =>
        {
            try
            {
                var r = await blob.DownloadContentAsync(c).ConfigureAwait(false);
                return ((byte[]?)r.Value.Content.ToArray(), (ETag?)r.Value.Details.ETag);
            }
            catch (RequestFailedException e) when (e.Status == 404) { return ((byte[]?)null, (ETag?)null); }
        }, ct).ConfigureAwait(false);
        return (blob, json, etag);
    }

    private Task<string> HashBlobAsync(string relative, long size, CancellationToken ct)
    {
        var blob = Blob(relative);
        return _resilience.RunAsync($"hash '{blob.Name}'", _transfer.TransferTimeout(size), async c =>
        {
            var r = await blob.DownloadStreamingAsync(cancellationToken: c).ConfigureAwait(false);
            await using var s = r.Value.Content;
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(s, c).ConfigureAwait(false));
        }, ct);
    }

    /// <summary>The blobs below the prefix (full names), with their metadata when asked.</summary>
    private Task<List<BlobItem>> ListAsync(string relativePrefix, CancellationToken ct, BlobTraits traits = BlobTraits.None) =>
        _resilience.RunAsync($"list '{Name(relativePrefix)}'", _options.OperationTimeout, async c =>
        {
            var found = new List<BlobItem>();
            await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = Name(relativePrefix), Traits = traits }, c).ConfigureAwait(false))
                found.Add(item);
            return found;
        }, ct);

    private async Task<List<string>> ListNamesAsync(string relativePrefix, CancellationToken ct) =>
        (await ListAsync(relativePrefix, ct).ConfigureAwait(false)).Select(i => i.Name).Order(StringComparer.Ordinal).ToList();

    // ---------------------------------------------------------------- commit

    public Task<StagingArea> BeginStagingAsync(string fingerprint, CancellationToken ct = default)
    {
        CheckFingerprint(fingerprint);
        var dir = Directory.CreateDirectory(Path.Combine(_work, "staging", $"{fingerprint}.{Guid.NewGuid():N}"));
        return Task.FromResult(new StagingArea(fingerprint, dir.FullName));
    }

    /// <summary>
    /// Commits in the order the class summary describes. An outage that outlasts the per-operation retries pauses the
    /// commit (<see cref="BlobStoreOptions.CommitRetryDelays"/>) and resumes it with the uploads already made.
    /// </summary>
    public Task<Manifest> CommitAsync(StagingArea staging, ManifestInfo info, CancellationToken ct = default) =>
        RideOutAsync(() => CommitOnceAsync(staging, info, ct), ct);

    /// <summary>
    /// Runs a step of the commit path (the commit, or the removal of a broken artifact just before it) again after the
    /// pauses of <see cref="BlobStoreOptions.CommitRetryDelays"/> while an outage outlasts the per-operation retries:
    /// the node's work is done and failing here would throw it away. The steps are safe to repeat.
    /// </summary>
    private async Task<T> RideOutAsync<T>(Func<Task<T>> step, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try { return await step().ConfigureAwait(false); }
            catch (BlobStoreException e) when (e.IsTransient && attempt < _options.CommitRetryDelays.Count)
            {
                await Task.Delay(_options.CommitRetryDelays[attempt], ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<Manifest> CommitOnceAsync(StagingArea staging, ManifestInfo info, CancellationToken ct)
    {
        var fp = CheckFingerprint(staging.Fingerprint);
        if (!Directory.Exists(staging.Directory))
            throw new ArgumentException($"staging folder {staging.Directory} of {fp} does not exist (already committed?)", nameof(staging));
        var existing = await ReadManifestAsync(fp, false, ct).ConfigureAwait(false);
        if (existing.Lookup.Manifest is { } already) return Consumed(staging, already);

        var paths = Directory.EnumerateFiles(staging.Directory, "*", SearchOption.AllDirectories)
            .Select(p => (Path: p, Name: Path.GetRelativePath(staging.Directory, p).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();

        // Each staging area uploads into its own folder, so committers of one fingerprint never touch each other's
        // blobs and the hash can be computed during the upload. A rerun of a failed commit of this staging area
        // resumes: a blob already there is kept when its recorded SHA-256 matches the local file's.
        var upload = UploadId(staging);
        var present = (await ListAsync(BlobLayout.UploadPrefix(fp, upload), ct, BlobTraits.Metadata).ConfigureAwait(false)).ToDictionary(i => i.Name, StringComparer.Ordinal);
        var files = new ArtifactFile[paths.Length];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.FileConcurrency, CancellationToken = ct };
        await Parallel.ForEachAsync(Enumerable.Range(0, paths.Length), parallel, async (i, c) =>
        {
            var (path, name) = paths[i];
            var size = new FileInfo(path).Length;
            var blob = _container.GetBlockBlobClient(Name(BlobLayout.File(fp, upload, name)));
            var sha = present.TryGetValue(blob.Name, out var there) && there.Properties.ContentLength == size
                      && there.Metadata is { } meta && meta.TryGetValue(BlobTransfer.Sha256Metadata, out var recorded)
                      && await FileVerifier.HashAsync(path, c).ConfigureAwait(false) == recorded
                ? recorded
                : await _transfer.UploadHashedAsync(path, blob, c).ConfigureAwait(false);
            files[i] = new ArtifactFile(name, size, sha);
        }).ConfigureAwait(false);

        var manifest = new Manifest(fp, info, files, DateTimeOffset.UtcNow, upload);
        var staged = paths.Select((p, i) => (p.Path, files[i])).ToList();
        var json = ManifestJson.Serialize(manifest);
        var blob = Blob(BlobLayout.Manifest(fp));
        var condition = new BlobRequestConditions { IfNoneMatch = ETag.All };
        for (var attempt = 0; ; attempt++)
        {
            var created = await _resilience.RunAsync($"create manifest '{blob.Name}'", _options.OperationTimeout, async c =>
            {
                try
                {
                    await blob.UploadAsync(new BinaryData(json), new BlobUploadOptions { Conditions = condition, HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } }, c).ConfigureAwait(false);
                    return true;
                }
                catch (RequestFailedException e) when (e.Status is 409 or 412) { return false; }
            }, ct).ConfigureAwait(false);
            if (created) return Consumed(staging, manifest, staged);

            // Someone else committed first (or our own earlier attempt did): theirs stands if it is whole.
            var (theirs, etag) = await ReadManifestAsync(fp, false, ct).ConfigureAwait(false);
            if (theirs.Manifest is { } winner)
            {
                if (winner.UploadId != upload) await DeletePrefixAsync(BlobLayout.UploadPrefix(fp, upload), ct).ConfigureAwait(false);
                return Consumed(staging, winner, staged);
            }
            if (attempt >= 4)
                throw new BlobStoreException($"{Location}: commit of {fp} kept racing with other writers of its manifest; giving up");
            // Broken or just deleted: replace it, but only the version we looked at.
            condition = etag is { } e ? new BlobRequestConditions { IfMatch = e } : new BlobRequestConditions { IfNoneMatch = ETag.All };
        }
    }

    /// <summary>The staging folder's unique suffix (<c>FP.ID</c>, see <see cref="BeginStagingAsync"/>) names its upload.</summary>
    private static string UploadId(StagingArea staging)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(staging.Directory));
        return name.Length == staging.Fingerprint.Length + 33 && name.StartsWith(staging.Fingerprint + ".", StringComparison.Ordinal)
               && name[^32..].All(char.IsAsciiHexDigitLower)
            ? name[^32..]
            : throw new ArgumentException($"{staging.Directory} is not a staging folder of this store", nameof(staging));
    }

    /// <summary>Ends a commit: staged files that the committed manifest lists with the same bytes go into the cache
    /// (the winner of a race may have other bytes); the rest is deleted.</summary>
    private Manifest Consumed(StagingArea staging, Manifest manifest, IEnumerable<(string Path, ArtifactFile File)>? staged = null)
    {
        var adopted = false;
        foreach (var (path, file) in staged ?? [])
            if (manifest.Files.Contains(file))
                adopted |= Cache.Adopt(file, path);
        if (adopted) Cache.Evict();
        Directory.Delete(staging.Directory, recursive: true);
        return manifest;
    }

    // ---------------------------------------------------------------- reading

    /// <summary>
    /// The file's cache entry: a present entry is used once its bytes are checked against the manifest (hashed on the
    /// first read in this process, see <see cref="FileVerifier"/>), a damaged one is thrown away and downloaded again,
    /// and a download is verified on its way into the cache (<see cref="ContentCache.FillAsync"/>).
    /// </summary>
    public async Task<string> GetLocalPathAsync(Manifest manifest, string fileName, CancellationToken ct = default)
    {
        var file = manifest.File(fileName);
        var what = $"{Location}: artifact {manifest.Fingerprint} ({manifest.Info.NodeId}) file '{file.Name}'";
        if (Cache.TryGet(file) is { } hit)
        {
            var sha = await FileVerifier.Shared.Sha256Async(hit, ct).ConfigureAwait(false);
            if (sha == file.Sha256) return hit;
            if (sha is not null) Cache.Discard(hit, $"{what}: its cache entry has SHA-256 {sha}, the manifest says {file.Sha256}");
        }
        var blob = Blob(BlobLayout.FileOf(manifest, file));
        return await Cache.FillAsync(file, what, (tmp, c) => _transfer.DownloadHashedAsync(blob, file.Size, tmp, what, c), ct).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<string> ListArtifactsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var prefix = Name(BlobLayout.ManifestFolder);
        foreach (var name in await ListNamesAsync(BlobLayout.ManifestFolder, ct).ConfigureAwait(false))
            if (name.EndsWith(".json", StringComparison.Ordinal))
                yield return name[prefix.Length..^".json".Length];
    }

    /// <summary>Removes the manifest first (so no reader trusts a half-deleted artifact), then the files; the engine
    /// calls it right before a commit, so it rides out an outage as the commit does.</summary>
    public Task DeleteArtifactAsync(string fingerprint, CancellationToken ct = default)
    {
        var fp = CheckFingerprint(fingerprint);
        return RideOutAsync(async () =>
        {
            await DeleteBlobAsync(BlobLayout.Manifest(fp), ct).ConfigureAwait(false);
            await DeletePrefixAsync(BlobLayout.ArtifactPrefix(fp), ct).ConfigureAwait(false);
            return true;
        }, ct);
    }

    /// <summary>What <see cref="CleanLeftoversAsync"/> removed (or would remove).</summary>
    public sealed record Leftovers(IReadOnlyList<string> Folders, long Bytes);

    /// <summary>
    /// Removes upload folders that no manifest lists: commits that failed, or lost a race and could not clean up.
    /// A folder is left alone while anything in it is younger than <paramref name="grace"/>, while its fingerprint's
    /// claim is held (a commit may be under way), and whenever its fingerprint's manifest cannot be read.
    /// </summary>
    public async Task<Leftovers> CleanLeftoversAsync(TimeSpan grace, bool dryRun, CancellationToken ct = default)
    {
        var cutoff = DateTimeOffset.UtcNow - grace;
        var root = Name(BlobLayout.ArtifactFolder);
        var blobs = new List<(string Fp, string Folder, string Name, long Size, DateTimeOffset Modified)>();
        foreach (var item in await ListAsync(BlobLayout.ArtifactFolder, ct).ConfigureAwait(false))
            if (item.Name[root.Length..].Split('/', 3) is [var fp, var folder, _])
                blobs.Add((fp, folder, item.Name, item.Properties.ContentLength ?? 0, item.Properties.LastModified ?? DateTimeOffset.MaxValue));

        var removed = new List<string>();
        long bytes = 0;
        foreach (var artifact in blobs.GroupBy(b => b.Fp))
        {
            var fp = artifact.Key;
            var listed = await ListedFoldersAsync(fp, ct).ConfigureAwait(false);
            if (listed is null) continue;
            var stale = artifact.GroupBy(b => b.Folder)
                .Where(f => !listed.Contains(f.Key) && f.All(b => b.Modified < cutoff)).ToList();
            if (stale.Count == 0 || await IsClaimedAsync(fp, ct).ConfigureAwait(false)) continue;
            foreach (var folder in stale)
            {
                if (!dryRun)
                    foreach (var b in folder)
                        await DeleteBlobAsync(b.Name[Name("").Length..], ct).ConfigureAwait(false);
                removed.Add($"{fp}/{folder.Key}");
                bytes += folder.Sum(b => b.Size);
            }
        }
        return new Leftovers(removed, bytes);
    }

    /// <summary>The upload folders the manifest of <paramref name="fp"/> lists (none without a manifest); null when
    /// a manifest is there but unreadable, so nothing of it may be touched.</summary>
    private async Task<HashSet<string>?> ListedFoldersAsync(string fp, CancellationToken ct)
    {
        var (blob, json, _) = await DownloadManifestAsync(fp, ct).ConfigureAwait(false);
        if (json is null) return [];
        try
        {
            var m = ManifestJson.Deserialize(json, blob.Name);
            return m.UploadId is { } upload ? [upload] : m.Files.Select(f => f.Sha256).ToHashSet(StringComparer.Ordinal);
        }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>Whether the claim blob's lease is held (an expired lease, or no claim blob, is free).</summary>
    public Task<bool> IsClaimedAsync(string fingerprint, CancellationToken ct = default)
    {
        var blob = Blob(BlobLayout.Claim(CheckFingerprint(fingerprint)));
        return _resilience.RunAsync($"check claim '{blob.Name}'", _options.OperationTimeout, async c =>
        {
            try { return (await blob.GetPropertiesAsync(cancellationToken: c).ConfigureAwait(false)).Value.LeaseState == LeaseState.Leased; }
            catch (RequestFailedException e) when (e.Status == 404) { return false; }
        }, ct);
    }

    // ---------------------------------------------------------------- scratch and claims

    /// <summary>A local folder: scratch is per machine (checkpoints of an attempt on another machine are not seen).</summary>
    public Task<string> GetScratchDirectoryAsync(string fingerprint, CancellationToken ct = default) =>
        Task.FromResult(Directory.CreateDirectory(ScratchPath(CheckFingerprint(fingerprint))).FullName);

    public Task DeleteScratchAsync(string fingerprint, CancellationToken ct = default)
    {
        var dir = ScratchPath(CheckFingerprint(fingerprint));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        return Task.CompletedTask;
    }

    private string ScratchPath(string fp) => Path.Combine(_work, "scratch", fp);

    /// <summary>Takes the lease of the fingerprint's claim blob, polling with backoff while another holder has it.
    /// The result is a <see cref="BlobClaim"/>.</summary>
    public async Task<IAsyncDisposable> ClaimAsync(string fingerprint, CancellationToken ct = default)
    {
        var fp = CheckFingerprint(fingerprint);
        var blob = Blob(BlobLayout.Claim(fp));
        var lease = blob.GetBlobLeaseClient(Guid.NewGuid().ToString());
        var wait = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            // A retried acquire with the same lease id succeeds on our own lease, so retries are safe.
            var status = await _resilience.RunAsync($"lease '{blob.Name}'", _options.OperationTimeout, async c =>
            {
                try { await lease.AcquireAsync(_options.LeaseDuration, cancellationToken: c).ConfigureAwait(false); return 201; }
                catch (RequestFailedException e) when (e.Status is 404 or 409) { return e.Status; }
            }, ct).ConfigureAwait(false);
            if (status == 201) return new BlobClaim(fp, lease, _options.LeaseDuration);
            if (status == 404)
            {
                await _resilience.RunAsync($"create claim '{blob.Name}'", _options.OperationTimeout, async c =>
                {
                    try { await blob.UploadAsync(BinaryData.Empty, new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, c).ConfigureAwait(false); }
                    catch (RequestFailedException e) when (e.Status is 409 or 412) { }
                }, ct).ConfigureAwait(false);
                continue;
            }
            await Task.Delay(wait * (0.75 + 0.5 * Random.Shared.NextDouble()), ct).ConfigureAwait(false);
            wait = TimeSpan.FromTicks(Math.Min((long)(wait.Ticks * 1.6), _options.ClaimPollMax.Ticks));
        }
    }

    // ---------------------------------------------------------------- documents

    public Task PutDocumentAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var blob = Blob(BlobLayout.Document(CheckDocumentPath(path)));
        return _resilience.RunAsync($"write '{blob.Name}'", _transfer.TransferTimeout(content.Length),
            c => blob.UploadAsync(new BinaryData(content), overwrite: true, c), ct);
    }

    public Task<byte[]?> GetDocumentAsync(string path, CancellationToken ct = default)
    {
        var blob = Blob(BlobLayout.Document(CheckDocumentPath(path)));
        return _resilience.RunAsync($"read '{blob.Name}'", _options.OperationTimeout, async c =>
        {
            try { return (await blob.DownloadContentAsync(c).ConfigureAwait(false)).Value.Content.ToArray(); }
            catch (RequestFailedException e) when (e.Status == 404) { return (byte[]?)null; }
        }, ct);
    }

    /// <summary>Documents in the folder <paramref name="prefix"/> and below ("" for all), as full relative paths.</summary>
    public async IAsyncEnumerable<string> ListDocumentsAsync(string prefix, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var folder = prefix.Trim('/') is { Length: > 0 } p ? CheckDocumentPath(p) + "/" : "";
        var strip = Name(BlobLayout.DocumentFolder).Length;
        foreach (var name in await ListNamesAsync(BlobLayout.Document(folder), ct).ConfigureAwait(false))
            yield return name[strip..];
    }

    public Task DeleteDocumentAsync(string path, CancellationToken ct = default) =>
        DeleteBlobAsync(BlobLayout.Document(CheckDocumentPath(path)), ct);

    public string DescribeDocument(string path) => $"{Location}/{BlobLayout.Document(CheckDocumentPath(path))}";

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // ---------------------------------------------------------------- helpers

    private string Name(string relative) => Address.Prefix.Length == 0 ? relative : $"{Address.Prefix}/{relative}";

    private BlobClient Blob(string relative) => _container.GetBlobClient(Name(relative));

    private async Task DeletePrefixAsync(string relativePrefix, CancellationToken ct)
    {
        var prefixLength = Name("").Length;
        foreach (var name in await ListNamesAsync(relativePrefix, ct).ConfigureAwait(false))
            await DeleteBlobAsync(name[prefixLength..], ct).ConfigureAwait(false);
    }

    private Task DeleteBlobAsync(string relative, CancellationToken ct)
    {
        var blob = Blob(relative);
        return _resilience.RunAsync($"delete '{blob.Name}'", _options.OperationTimeout, c => blob.DeleteIfExistsAsync(cancellationToken: c), ct);
    }

    private static string CheckFingerprint(string fingerprint) =>
        fingerprint is { Length: > 0 } && fingerprint.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f')
            ? fingerprint
            : throw new ArgumentException($"fingerprint '{fingerprint}' is not lower-case hex", nameof(fingerprint));

    private static string CheckDocumentPath(string path) =>
        path is { Length: > 0 } && !path.Contains('\\') && path.Split('/').All(p => p is not ("" or "." or ".."))
            ? path
            : throw new ArgumentException($"document path '{path}' must be relative and '/'-separated, without empty, '.' or '..' parts", nameof(path));
}

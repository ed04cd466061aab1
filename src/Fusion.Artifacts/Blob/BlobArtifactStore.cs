using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Fusion.Artifacts.Store;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// Artifact store in an Azure Blob container (layout: <see cref="BlobLayout"/>). Commits upload the files
/// (content-addressed, in parallel blocks with per-block MD5 checked by the service), then create the manifest with
/// If-None-Match: * so the first committer wins and later ones get its manifest. Readers trust only manifests whose
/// files are all present with the right sizes. Claims are renewed blob leases. Files are read through a local,
/// verified, size-bounded <see cref="ContentCache"/>. Staging and scratch are local folders: scratch is per machine
/// (a rerun on another machine starts without the previous attempt's checkpoints).
/// </summary>
public sealed class BlobArtifactStore : IArtifactStore
{
    /// <summary>Pinned below the SDK's default (2026-10-06) because Azurite 3.37 rejects newer versions; the blob
    /// features used here are all older than this version, so real storage behaves the same.</summary>
    public const BlobClientOptions.ServiceVersion ServiceVersion = BlobClientOptions.ServiceVersion.V2026_06_06;

    private readonly BlobContainerClient _container;
    private readonly BlobStoreOptions _options;
    private readonly BlobResilience _resilience;
    private readonly string _work;

    private BlobArtifactStore(BlobStoreAddress address, BlobContainerClient container, BlobStoreOptions options, BlobResilience resilience)
    {
        Address = address;
        _container = container;
        _options = options;
        _resilience = resilience;
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
        var blob = Blob(BlobLayout.Manifest(fp));
        var read = await _resilience.RunAsync($"read manifest '{blob.Name}'", _options.OperationTimeout, async c =>
        {
            try
            {
                var r = await blob.DownloadContentAsync(c).ConfigureAwait(false);
                return ((byte[]?)r.Value.Content.ToArray(), (ETag?)r.Value.Details.ETag);
            }
            catch (RequestFailedException e) when (e.Status == 404) { return ((byte[]?)null, (ETag?)null); }
        }, ct).ConfigureAwait(false);
        if (read.Item1 is not { } json) return (ManifestLookup.Absent, null);

        Manifest m;
        try { m = ManifestJson.Deserialize(json, $"{Location}/{blob.Name}"); }
        catch (InvalidDataException e) { return (new ManifestLookup(null, e.Message), read.Item2); }
        if (m.Fingerprint != fp)
            return (new ManifestLookup(null, $"{Location}/{blob.Name}: manifest is for fingerprint {m.Fingerprint}"), read.Item2);

        var problems = new List<string>();
        var sizes = await ListSizesAsync(BlobLayout.ArtifactPrefix(fp), ct).ConfigureAwait(false);
        foreach (var f in m.Files)
        {
            if (!sizes.TryGetValue(Name(BlobLayout.File(fp, f.Sha256, f.Name)), out var size)) problems.Add($"file '{f.Name}' is missing");
            else if (size != f.Size) problems.Add($"file '{f.Name}' has {size} bytes, the manifest says {f.Size}");
        }
        if (problems.Count == 0 && verifyHashes)
        {
            var bad = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Parallel.ForEachAsync(m.Files, new ParallelOptions { MaxDegreeOfParallelism = _options.FileConcurrency, CancellationToken = ct }, async (f, c) =>
            {
                var sha = await HashBlobAsync(BlobLayout.File(fp, f.Sha256, f.Name), f.Size, c).ConfigureAwait(false);
                if (sha != f.Sha256) bad.Add($"file '{f.Name}' has SHA-256 {sha}, the manifest says {f.Sha256}");
            }).ConfigureAwait(false);
            problems.AddRange(bad.Order(StringComparer.Ordinal));
        }
        return problems.Count == 0
            ? (new ManifestLookup(m, null), read.Item2)
            : (new ManifestLookup(null, $"{Location}: artifact {fp} ({m.Info.NodeId}) is broken, treated as absent: {string.Join("; ", problems)}"), read.Item2);
    }

    private Task<string> HashBlobAsync(string relative, long size, CancellationToken ct)
    {
        var blob = Blob(relative);
        return _resilience.RunAsync($"hash '{blob.Name}'", TransferTimeout(size), async c =>
        {
            var r = await blob.DownloadStreamingAsync(cancellationToken: c).ConfigureAwait(false);
            await using var s = r.Value.Content;
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(s, c).ConfigureAwait(false));
        }, ct);
    }

    private Task<Dictionary<string, long>> ListSizesAsync(string relativePrefix, CancellationToken ct) =>
        _resilience.RunAsync($"list '{Name(relativePrefix)}'", _options.OperationTimeout, async c =>
        {
            var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
            await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = Name(relativePrefix) }, c).ConfigureAwait(false))
                sizes[item.Name] = item.Properties.ContentLength ?? -1;
            return sizes;
        }, ct);

    // ---------------------------------------------------------------- commit

    public Task<StagingArea> BeginStagingAsync(string fingerprint, CancellationToken ct = default)
    {
        CheckFingerprint(fingerprint);
        var dir = Directory.CreateDirectory(Path.Combine(_work, "staging", $"{fingerprint}.{Guid.NewGuid():N}"));
        return Task.FromResult(new StagingArea(fingerprint, dir.FullName));
    }

    public async Task<Manifest> CommitAsync(StagingArea staging, ManifestInfo info, CancellationToken ct = default)
    {
        var fp = CheckFingerprint(staging.Fingerprint);
        if (!Directory.Exists(staging.Directory))
            throw new ArgumentException($"staging folder {staging.Directory} of {fp} does not exist (already committed?)", nameof(staging));
        var existing = await ReadManifestAsync(fp, false, ct).ConfigureAwait(false);
        if (existing.Lookup.Manifest is { } already) return Consumed(staging, already);

        var paths = Directory.EnumerateFiles(staging.Directory, "*", SearchOption.AllDirectories)
            .Select(p => (Path: p, Name: Path.GetRelativePath(staging.Directory, p).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ToArray();
        var files = new ArtifactFile[paths.Length];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.FileConcurrency, CancellationToken = ct };
        await Parallel.ForEachAsync(Enumerable.Range(0, paths.Length), parallel, async (i, c) =>
            files[i] = new ArtifactFile(paths[i].Name, new FileInfo(paths[i].Path).Length, await ContentCache.Sha256Async(paths[i].Path, c).ConfigureAwait(false))
        ).ConfigureAwait(false);

        // Upload what is not there yet (a rerun after a failed commit resumes here); blob commits are atomic.
        var present = await ListSizesAsync(BlobLayout.ArtifactPrefix(fp), ct).ConfigureAwait(false);
        var uploaded = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, paths.Length), parallel, async (i, c) =>
        {
            var name = BlobLayout.File(fp, files[i].Sha256, files[i].Name);
            if (present.TryGetValue(Name(name), out var size) && size == files[i].Size) return;
            await UploadFileAsync(paths[i].Path, name, files[i].Size, c).ConfigureAwait(false);
            uploaded.Add(name);
        }).ConfigureAwait(false);

        var manifest = new Manifest(fp, info, files, DateTimeOffset.UtcNow);
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
            if (created) return Consumed(staging, manifest);

            // Someone else committed first (or our own earlier attempt did): theirs stands if it is whole.
            var (theirs, etag) = await ReadManifestAsync(fp, false, ct).ConfigureAwait(false);
            if (theirs.Manifest is { } winner)
            {
                var keep = winner.Files.Select(f => BlobLayout.File(fp, f.Sha256, f.Name)).ToHashSet(StringComparer.Ordinal);
                foreach (var mine in uploaded.Where(u => !keep.Contains(u)))
                    await DeleteBlobAsync(mine, ct).ConfigureAwait(false);
                return Consumed(staging, winner);
            }
            if (attempt >= 4)
                throw new BlobStoreException($"{Location}: commit of {fp} kept racing with other writers of its manifest; giving up");
            // Broken or just deleted: replace it, but only the version we looked at.
            condition = etag is { } e ? new BlobRequestConditions { IfMatch = e } : new BlobRequestConditions { IfNoneMatch = ETag.All };
        }
    }

    private static Manifest Consumed(StagingArea staging, Manifest manifest)
    {
        Directory.Delete(staging.Directory, recursive: true);
        return manifest;
    }

    private Task UploadFileAsync(string path, string relative, long size, CancellationToken ct)
    {
        var blob = Blob(relative);
        var options = new BlobUploadOptions
        {
            // Create-only: a content-addressed blob that appeared meanwhile already holds these bytes.
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            TransferOptions = TransferOptions,
            TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
            ProgressHandler = Progress(blob.Name),
        };
        return _resilience.RunAsync($"upload '{blob.Name}'", TransferTimeout(size), async c =>
        {
            try { await blob.UploadAsync(path, options, c).ConfigureAwait(false); }
            catch (RequestFailedException e) when (e.Status is 409 or 412) { }
        }, ct);
    }

    // ---------------------------------------------------------------- reading

    public async Task<string> GetLocalPathAsync(Manifest manifest, string fileName, CancellationToken ct = default)
    {
        var file = manifest.File(fileName);
        if (Cache.TryGet(file) is { } hit) return hit;
        var blob = Blob(BlobLayout.File(CheckFingerprint(manifest.Fingerprint), file.Sha256, file.Name));
        var what = $"{Location}: artifact {manifest.Fingerprint} ({manifest.Info.NodeId}) file '{file.Name}'";
        return await Cache.FillAsync(file, what, (tmp, c) => DownloadHashedAsync(blob, file.Size, tmp, what, c), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Downloads a blob in parallel ranges (each retried on its own) but writes and hashes them in order, so the
    /// SHA-256 check costs no second pass over the file. Returns the SHA-256 of what was written.
    /// </summary>
    private async Task<string> DownloadHashedAsync(BlobClient blob, long size, string path, string what, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
        if (size == 0)
        {
            var length = await _resilience.RunAsync($"check '{blob.Name}'", _options.OperationTimeout, async c =>
            {
                try { return (await blob.GetPropertiesAsync(cancellationToken: c).ConfigureAwait(false)).Value.ContentLength; }
                catch (RequestFailedException e) when (e.Status == 404) { throw new ArtifactCorruptException($"{what}: the blob is missing"); }
            }, ct).ConfigureAwait(false);
            if (length != 0) throw new ArtifactCorruptException($"{what}: {length} bytes, the manifest says 0");
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        long block = _options.BlockBytes;
        var count = (size + block - 1) / block;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var window = new Queue<Task<(byte[] Buffer, int Length)>>();
        var progress = Progress(blob.Name);
        long next = 0, done = 0;
        try
        {
            while (next < count || window.Count > 0)
            {
                while (next < count && window.Count < Math.Max(1, _options.TransferConcurrency))
                {
                    var offset = next++ * block;
                    window.Enqueue(DownloadRangeAsync(blob, offset, (int)Math.Min(block, size - offset), size, what, stop.Token));
                }
                var (buffer, length) = await window.Dequeue().ConfigureAwait(false);
                try
                {
                    sha.AppendData(buffer, 0, length);
                    await output.WriteAsync(buffer.AsMemory(0, length), ct).ConfigureAwait(false);
                }
                finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
                progress?.Report(done += length);
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var t in window)
                try { System.Buffers.ArrayPool<byte>.Shared.Return((await t.ConfigureAwait(false)).Buffer); } catch (Exception) { /* the first failure is the one reported */ }
            throw;
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private Task<(byte[] Buffer, int Length)> DownloadRangeAsync(BlobClient blob, long offset, int length, long size, string what, CancellationToken ct) =>
        _resilience.RunAsync($"download '{blob.Name}' at byte {offset}", TransferTimeout(length), async c =>
        {
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
            try
            {
                var r = await blob.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(offset, length) }, c).ConfigureAwait(false);
                await using var s = r.Value.Content;
                var total = r.Value.Details.ContentRange is { } range && range.LastIndexOf('/') is var slash and > 0 && long.TryParse(range[(slash + 1)..], out var t)
                    ? t : r.Value.Details.ContentLength;
                if (total != size) throw new ArtifactCorruptException($"{what}: {total} bytes, the manifest says {size}");
                await s.ReadExactlyAsync(buffer.AsMemory(0, length), c).ConfigureAwait(false);
                return (buffer, length);
            }
            catch (Exception e)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                if (e is RequestFailedException { Status: 404 }) throw new ArtifactCorruptException($"{what}: the blob is missing");
                if (e is RequestFailedException { Status: 416 }) throw new ArtifactCorruptException($"{what}: the blob is shorter than the manifest's {size} bytes");
                throw;
            }
        }, ct);

    public async IAsyncEnumerable<string> ListArtifactsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var prefix = Name(BlobLayout.ManifestFolder);
        foreach (var name in (await ListSizesAsync(BlobLayout.ManifestFolder, ct).ConfigureAwait(false)).Keys.Order(StringComparer.Ordinal))
            if (name.EndsWith(".json", StringComparison.Ordinal))
                yield return name[prefix.Length..^".json".Length];
    }

    public async Task DeleteArtifactAsync(string fingerprint, CancellationToken ct = default)
    {
        var fp = CheckFingerprint(fingerprint);
        await DeleteBlobAsync(BlobLayout.Manifest(fp), ct).ConfigureAwait(false);
        var prefixLength = Name("").Length;
        foreach (var name in (await ListSizesAsync(BlobLayout.ArtifactPrefix(fp), ct).ConfigureAwait(false)).Keys)
            await DeleteBlobAsync(name[prefixLength..], ct).ConfigureAwait(false);
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
        return _resilience.RunAsync($"write '{blob.Name}'", TransferTimeout(content.Length),
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
        foreach (var name in (await ListSizesAsync(BlobLayout.Document(folder), ct).ConfigureAwait(false)).Keys.Order(StringComparer.Ordinal))
            yield return name[strip..];
    }

    public Task DeleteDocumentAsync(string path, CancellationToken ct = default) =>
        DeleteBlobAsync(BlobLayout.Document(CheckDocumentPath(path)), ct);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // ---------------------------------------------------------------- helpers

    private string Name(string relative) => Address.Prefix.Length == 0 ? relative : $"{Address.Prefix}/{relative}";

    private BlobClient Blob(string relative) => _container.GetBlobClient(Name(relative));

    private Task DeleteBlobAsync(string relative, CancellationToken ct)
    {
        var blob = Blob(relative);
        return _resilience.RunAsync($"delete '{blob.Name}'", _options.OperationTimeout, c => blob.DeleteIfExistsAsync(cancellationToken: c), ct);
    }

    private StorageTransferOptions TransferOptions => new()
    {
        MaximumConcurrency = _options.TransferConcurrency,
        MaximumTransferSize = _options.BlockBytes,
        InitialTransferSize = _options.BlockBytes,
    };

    private TimeSpan TransferTimeout(long bytes) => _options.OperationTimeout + TimeSpan.FromSeconds(bytes / _options.MinTransferBytesPerSecond);

    private IProgress<long>? Progress(string blobName) =>
        _options.TransferProgress is { } report ? new SyncProgress(bytes => report(blobName, bytes)) : null;

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
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

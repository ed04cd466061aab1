using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Fusion.Artifacts.Store;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// File transfers of a <see cref="BlobArtifactStore"/> that read each byte once: uploads hash the file while they
/// stage its blocks, downloads hash the ranges while they write them. Every block or range is retried on its own.
/// </summary>
internal sealed class BlobTransfer(BlobResilience resilience, BlobStoreOptions options)
{
    private readonly BlobResilience resilience = resilience;
    private readonly BlobStoreOptions options = options;

    /// <summary>Blob metadata key of a file's SHA-256 (lets a resumed commit skip what it already uploaded).</summary>
    public const string Sha256Metadata = "sha256";

    private static readonly UploadTransferValidationOptions Md5 = new() { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 };

    /// <summary>
    /// Uploads <paramref name="path"/> as <paramref name="blob"/> and returns its SHA-256. A file of one block goes in
    /// one request; larger ones are read once, block by block: each block is added to the hash, then staged in
    /// parallel with its MD5 checked by the service. The block list commit, which is atomic, makes the blob appear
    /// with the hash in its metadata.
    /// </summary>
    public async Task<string> UploadHashedAsync(string path, BlockBlobClient blob, CancellationToken ct)
    {
        await using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var size = input.Length;
        var progress = Progress(blob.Name, size);
        if (size <= options.BlockBytes) return await UploadWholeAsync(input, blob, progress, ct).ConfigureAwait(false);
        using var upload = new BlockUpload(this, blob, progress, ct);
        var sha256 = await upload.StageAllAsync(input, size).ConfigureAwait(false);
        await resilience.RunAsync($"commit the blocks of '{blob.Name}'", options.OperationTimeout, c =>
            blob.CommitBlockListAsync(upload.Ids, new CommitBlockListOptions { Metadata = Metadata(sha256) }, c), ct).ConfigureAwait(false);
        return sha256;
    }

    /// <summary>A file of one block: read, hashed and uploaded in one request.</summary>
    private async Task<string> UploadWholeAsync(FileStream input, BlockBlobClient blob, IProgress<long>? progress, CancellationToken ct)
    {
        var size = input.Length;
        var bytes = new byte[size];
        await input.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await resilience.RunAsync($"upload '{blob.Name}'", TransferTimeout(size), c => blob.UploadAsync(new MemoryStream(bytes, writable: false),
            new BlobUploadOptions { Metadata = Metadata(hash), TransferValidation = Md5 }, c), ct).ConfigureAwait(false);
        progress?.Report(size);
        return hash;
    }

    /// <summary>
    /// The blocks of one upload: read in order and hashed, staged in parallel (at most the transfer concurrency at a
    /// time); the first failure cancels the rest and is the one reported.
    /// </summary>
    private sealed class BlockUpload(BlobTransfer transfer, BlockBlobClient blob, IProgress<long>? progress, CancellationToken ct) : IDisposable
    {
        private readonly IncrementalHash sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly SemaphoreSlim slots = new(Math.Max(1, transfer.options.TransferConcurrency));
        private readonly CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        private readonly List<Task> staged = [];
        private readonly Lock reporting = new();
        private long done;

        /// <summary>The block ids, in file order.</summary>
        public List<string> Ids { get; } = [];

        /// <summary>Stages every block of <paramref name="input"/>; returns the file's SHA-256.</summary>
        public async Task<string> StageAllAsync(FileStream input, long size)
        {
            Exception? readFailure = null;
            try
            {
                for (long offset = 0; offset < size; offset += transfer.options.BlockBytes)
                    await ReadBlockAsync(input, offset, (int)Math.Min(transfer.options.BlockBytes, size - offset)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                readFailure = e;
                await stop.CancelAsync().ConfigureAwait(false);
            }
            try { await Task.WhenAll(staged).ConfigureAwait(false); }
            catch (Exception) { /* the first real cause is picked below */ }
            // A block's own failure explains the cancellation of the others and of the reading loop.
            if (staged.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException) is { } cause)
                ExceptionDispatchInfo.Throw(cause);
            if (readFailure is not null) ExceptionDispatchInfo.Throw(readFailure);
            ct.ThrowIfCancellationRequested();
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }

        private async Task ReadBlockAsync(FileStream input, long offset, int length)
        {
            await slots.WaitAsync(stop.Token).ConfigureAwait(false);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                await input.ReadExactlyAsync(buffer.AsMemory(0, length), stop.Token).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                slots.Release();
                throw;
            }
            sha.AppendData(buffer, 0, length);
            // Fixed-width ids: the service wants every block id of a blob to have the same length.
            var id = Convert.ToBase64String(Encoding.ASCII.GetBytes(Ids.Count.ToString("d8")));
            Ids.Add(id);
            staged.Add(StageAsync(id, buffer, length, offset));
        }

        private async Task StageAsync(string id, byte[] buffer, int length, long offset)
        {
            try
            {
                await transfer.resilience.RunAsync($"upload '{blob.Name}' block at byte {offset}", transfer.TransferTimeout(length), c =>
                    blob.StageBlockAsync(id, new MemoryStream(buffer, 0, length, writable: false), new BlockBlobStageBlockOptions { TransferValidation = Md5 }, c),
                    stop.Token).ConfigureAwait(false);
                // Under a lock, so the cumulative counts arrive in increasing order and the total exactly once, last.
                lock (reporting) progress?.Report(done += length);
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
                slots.Release();
            }
        }

        public void Dispose()
        {
            sha.Dispose();
            slots.Dispose();
            stop.Dispose();
        }
    }

    private static Dictionary<string, string> Metadata(string sha256) => new() { [Sha256Metadata] = sha256 };

    /// <summary>
    /// Downloads a blob in parallel ranges, each retried on its own and written at its offset as soon as it arrives,
    /// and hashes the ranges in order, so the SHA-256 check costs no second pass over the file and the one thread that
    /// must follow the order does nothing else. Returns the SHA-256 of the bytes.
    /// </summary>
    public async Task<string> DownloadHashedAsync(BlobClient blob, long size, string path, string what, CancellationToken ct)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var output = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.Asynchronous, preallocationSize: size);
        if (size == 0)
        {
            var length = await resilience.RunAsync($"check '{blob.Name}'", options.OperationTimeout, async c =>
            {
                try { return (await blob.GetPropertiesAsync(cancellationToken: c).ConfigureAwait(false)).Value.ContentLength; }
                catch (RequestFailedException e) when (e.Status == 404) { throw new ArtifactCorruptException($"{what}: the blob is missing"); }
            }, ct).ConfigureAwait(false);
            if (length != 0) throw new ArtifactCorruptException($"{what}: {length} bytes, the manifest says 0");
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        long block = options.BlockBytes;
        var count = (size + block - 1) / block;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var window = new Queue<Task<(byte[] Buffer, int Length)>>();
        var progress = Progress(blob.Name, size);
        long next = 0, done = 0;
        try
        {
            while (next < count || window.Count > 0)
            {
                while (next < count && window.Count < Math.Max(1, options.TransferConcurrency))
                {
                    var offset = next++ * block;
                    window.Enqueue(DownloadRangeToAsync(output, blob, offset, (int)Math.Min(block, size - offset), size, what, stop.Token));
                }
                var (buffer, length) = await window.Dequeue().ConfigureAwait(false);
                sha.AppendData(buffer, 0, length);
                ArrayPool<byte>.Shared.Return(buffer);
                progress?.Report(done += length);
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var t in window)
                try { ArrayPool<byte>.Shared.Return((await t.ConfigureAwait(false)).Buffer); } catch (Exception) { /* the first failure is the one reported */ }
            throw;
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A range, written at its offset; the buffer (from the pool) still holds it for the hash.</summary>
    private async Task<(byte[] Buffer, int Length)> DownloadRangeToAsync(Microsoft.Win32.SafeHandles.SafeFileHandle output, BlobClient blob, long offset, int length,
        long size, string what, CancellationToken ct)
    {
        var range = await DownloadRangeAsync(blob, offset, length, size, what, ct).ConfigureAwait(false);
        try
        {
            // Outside the retries: a full disk is not the service's fault.
            await RandomAccess.WriteAsync(output, range.Buffer.AsMemory(0, length), offset, ct).ConfigureAwait(false);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(range.Buffer);
            throw;
        }
        return range;
    }

    private Task<(byte[] Buffer, int Length)> DownloadRangeAsync(BlobClient blob, long offset, int length, long size, string what, CancellationToken ct) =>
        resilience.RunAsync($"download '{blob.Name}' at byte {offset}", TransferTimeout(length), async c =>
        {
            var buffer = ArrayPool<byte>.Shared.Rent(length);
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
                ArrayPool<byte>.Shared.Return(buffer);
                if (e is RequestFailedException { Status: 404 }) throw new ArtifactCorruptException($"{what}: the blob is missing");
                if (e is RequestFailedException { Status: 416 }) throw new ArtifactCorruptException($"{what}: the blob is shorter than the manifest's {size} bytes");
                throw;
            }
        }, ct);

    /// <summary>Time limit of one transfer attempt: the operation limit plus the bytes at the slowest tolerated rate.</summary>
    public TimeSpan TransferTimeout(long bytes) => options.OperationTimeout + TimeSpan.FromSeconds(bytes / options.MinTransferBytesPerSecond);

    private IProgress<long>? Progress(string blobName, long size) =>
        options.TransferProgress is { } report ? new SyncProgress(bytes => report(blobName, bytes, size)) : null;

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}

using System.Diagnostics;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Fusion.Artifacts.Store;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// `fusion bench blob [-s size=MB] [-s repeat=N]` (default 256 MiB, best of 2; size=1024 for the 1 GB figure): upload and download MB/s of one
/// artifact file through <see cref="BlobArtifactStore"/> against a plain Azure.Storage.Blobs transfer of the same bytes
/// with the same block size and concurrency (once with the SDK's default validation, once with the store's per-block MD5),
/// on a private Azurite; then the cached re-read. Store overhead includes
/// the SHA-256 of the file, per-block MD5, the manifest and its checks (commit), and SHA-256 verification (download).
/// </summary>
public static class BlobBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options) =>
        RunAsync(options).GetAwaiter().GetResult();

    private static async Task<List<(string, double, string)>> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var mb = options.TryGetValue("size", out var s) ? int.Parse(s) : 256;
        var bytes = (long)mb << 20;
        var temp = Directory.CreateTempSubdirectory("fusion-blobbench-").FullName;
        try
        {
            await using var azurite = await AzuriteProcess.StartAsync(Path.Combine(temp, "azurite"));
            var storeOptions = new BlobStoreOptions { WorkDirectory = Path.Combine(temp, "work"), CacheDirectory = Path.Combine(temp, "cache"), CacheMaxBytes = 4 * bytes };
            var transfer = new StorageTransferOptions
            {
                MaximumConcurrency = storeOptions.TransferConcurrency, MaximumTransferSize = storeOptions.BlockBytes, InitialTransferSize = storeOptions.BlockBytes,
            };
            var source = Path.Combine(temp, "artifact.bin");
            await WriteRandomAsync(source, bytes);

            var plain = new BlobServiceClient(azurite.ConnectionString, new BlobClientOptions(BlobArtifactStore.ServiceVersion)).GetBlobContainerClient("plain");
            await plain.CreateIfNotExistsAsync();
            var store = await BlobArtifactStore.OpenAsync($"azure://{AzuriteProcess.Account}/store", BlobCredential.FromConnectionString(azurite.ConnectionString), storeOptions);

            // Warm-up (JIT, connections) with a small transfer of each kind.
            await plain.GetBlobClient("warm").UploadAsync(new BinaryData(new byte[1 << 20]));
            await CommitSmallAsync(store, new string('0', 64));

            // Best of `repeat` rounds, alternating which side goes first, so neither profits from warm-up or order.
            var repeat = options.TryGetValue("repeat", out var r) ? int.Parse(r) : 2;
            var (plainUp, plainMd5Up, storeUp, plainDown, storeDown) = (double.MaxValue, double.MaxValue, double.MaxValue, double.MaxValue, double.MaxValue);
            var md5 = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 };
            Manifest? manifest = null;
            var plainCopy = Path.Combine(temp, "plain-download.bin");
            for (var round = 0; round < repeat; round++)
            {
                var fp = Convert.ToHexStringLower(BitConverter.GetBytes(round + 1)).PadLeft(64, 'a');
                var staging = await store.BeginStagingAsync(fp);
                // The node's output, not timed; flushed to disk first, like the source the plain transfers read, so the
                // commit does not compete with the kernel writing back a GiB of fresh pages.
                File.Copy(source, Path.Combine(staging.Directory, "artifact.bin"));
                await using (var written = new FileStream(Path.Combine(staging.Directory, "artifact.bin"), FileMode.Open, FileAccess.ReadWrite)) written.Flush(flushToDisk: true);
                async Task PlainUp() => plainUp = Math.Min(plainUp, await TimeAsync(() =>
                    plain.GetBlobClient($"artifact{round}.bin").UploadAsync(source, new BlobUploadOptions { TransferOptions = transfer })));
                async Task PlainMd5Up() => plainMd5Up = Math.Min(plainMd5Up, await TimeAsync(() =>
                    plain.GetBlobClient($"md5-{round}.bin").UploadAsync(source, new BlobUploadOptions { TransferOptions = transfer, TransferValidation = md5 })));
                async Task StoreUp() => storeUp = Math.Min(storeUp, await TimeAsync(async () => manifest = await store.CommitAsync(staging, Info)));
                async Task PlainDown() => plainDown = Math.Min(plainDown, await TimeAsync(() =>
                    plain.GetBlobClient($"artifact{round}.bin").DownloadToAsync(plainCopy, new BlobDownloadToOptions { TransferOptions = transfer })));
                async Task StoreDown()
                {
                    if (File.Exists(store.Cache.EntryPath(manifest!.File("artifact.bin")))) File.Delete(store.Cache.EntryPath(manifest.File("artifact.bin")));
                    storeDown = Math.Min(storeDown, await TimeAsync(() => store.GetLocalPathAsync(manifest, "artifact.bin")));
                }
                if (round % 2 == 0) { await PlainUp(); await PlainMd5Up(); await StoreUp(); await PlainDown(); await StoreDown(); }
                else { await StoreUp(); await PlainMd5Up(); await PlainUp(); await StoreDown(); await PlainDown(); }
                File.Delete(plainCopy);
            }

            var cached = await store.GetLocalPathAsync(manifest!, "artifact.bin");
            string? again = null;
            var reread = await TimeAsync(async () => { again = await store.GetLocalPathAsync(manifest!, "artifact.bin"); await ReadAllAsync(again); });
            if (again != cached) throw new InvalidOperationException("the second read did not come from the cache");

            double Mbps(double seconds) => bytes / 1e6 / seconds;
            return
            [
                ($"plain SDK upload ({mb} MiB)", Mbps(plainUp), "MB/s"),
                ("plain SDK upload, per-block MD5 as the store", Mbps(plainMd5Up), "MB/s"),
                ("store commit (upload)", Mbps(storeUp), "MB/s"),
                ("upload overhead vs plain SDK defaults", (storeUp / plainUp - 1) * 100, "%"),
                ("upload overhead vs plain with MD5", (storeUp / plainMd5Up - 1) * 100, "%"),
                ("plain SDK download", Mbps(plainDown), "MB/s"),
                ("store download (verified cache fill)", Mbps(storeDown), "MB/s"),
                ("download overhead", (storeDown / plainDown - 1) * 100, "%"),
                ("cached re-read", Mbps(reread), "MB/s"),
            ];
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task<Manifest> CommitSmallAsync(BlobArtifactStore store, string fp)
    {
        var staging = await store.BeginStagingAsync(fp);
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "artifact.bin"), new byte[1 << 20]);
        return await store.CommitAsync(staging, Info);
    }

    private static ManifestInfo Info => new("bench", "bench", "0", new Dictionary<string, string>(), DateTimeOffset.UtcNow, TimeSpan.Zero);

    private static async Task<double> TimeAsync(Func<Task> op)
    {
        var sw = Stopwatch.StartNew();
        await op();
        return sw.Elapsed.TotalSeconds;
    }

    private static async Task WriteRandomAsync(string path, long bytes)
    {
        var buffer = new byte[8 << 20];
        var rng = new Random(1);
        await using var f = File.Create(path);
        for (long done = 0; done < bytes; done += buffer.Length)
        {
            rng.NextBytes(buffer);
            await f.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, bytes - done)));
        }
    }

    private static async Task ReadAllAsync(string path)
    {
        var buffer = new byte[4 << 20];
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        while (await f.ReadAsync(buffer) > 0) { }
    }
}

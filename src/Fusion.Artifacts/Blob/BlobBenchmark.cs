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
/// It also reports the CPU seconds the client and Azurite spent in the best rounds: on a small machine the two share
/// the cores, so CPU, not the loopback link, is what the transfers compete for.
/// </summary>
public static class BlobBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options) =>
        RunAsync(options).GetAwaiter().GetResult();

    private static async Task<List<(string, double, string)>> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var mb = options.TryGetValue("size", out var s) ? int.Parse(s) : 256;
        var temp = Directory.CreateTempSubdirectory("fusion-blobbench-").FullName;
        try
        {
            await using var azurite = await AzuriteProcess.StartAsync(Path.Combine(temp, "azurite"));
            var rounds = await Rounds.OpenAsync(azurite, temp, (long)mb << 20);
            // Best of `repeat` rounds, alternating which side goes first, so neither profits from warm-up or order.
            var repeat = options.TryGetValue("repeat", out var r) ? int.Parse(r) : 2;
            for (var round = 0; round < repeat; round++) await rounds.RunAsync(round);
            return rounds.Results(mb, await rounds.RereadAsync());
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The timed transfers of one artifact file, plain and through the store, keeping each kind's best round.</summary>
    private sealed class Rounds(BlobContainerClient plain, BlobArtifactStore store, CpuMeter meter, StorageTransferOptions transfer, string source, string temp, long bytes)
    {
        private static readonly Timing Worst = new(double.MaxValue, 0, 0);
        private readonly UploadTransferValidationOptions md5 = new() { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 };
        private Timing plainUp = Worst, plainMd5Up = Worst, storeUp = Worst, plainDown = Worst, storeDown = Worst;
        private Manifest? manifest;

        /// <summary>The source file, a plain container and the store on <paramref name="azurite"/>, warmed up (JIT, connections).</summary>
        public static async Task<Rounds> OpenAsync(AzuriteProcess azurite, string temp, long bytes)
        {
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
            // Warm-up with a small transfer of each kind.
            await plain.GetBlobClient("warm").UploadAsync(new BinaryData(new byte[1 << 20]));
            await CommitSmallAsync(store, new string('0', 64));
            return new Rounds(plain, store, new CpuMeter(azurite.Pid), transfer, source, temp, bytes);
        }

        public async Task RunAsync(int round)
        {
            var plainCopy = Path.Combine(temp, "plain-download.bin");
            var fp = Convert.ToHexStringLower(BitConverter.GetBytes(round + 1)).PadLeft(64, 'a');
            var staging = await store.BeginStagingAsync(fp);
            // The node's output, not timed; flushed to disk first, like the source the plain transfers read, so the
            // commit does not compete with the kernel writing back a GiB of fresh pages.
            File.Copy(source, Path.Combine(staging.Directory, "artifact.bin"));
            await using (var written = new FileStream(Path.Combine(staging.Directory, "artifact.bin"), FileMode.Open, FileAccess.ReadWrite)) written.Flush(flushToDisk: true);
            async Task PlainUp() => plainUp = Timing.Best(plainUp, await meter.TimeAsync(() =>
                plain.GetBlobClient($"artifact{round}.bin").UploadAsync(source, new BlobUploadOptions { TransferOptions = transfer })));
            async Task PlainMd5Up() => plainMd5Up = Timing.Best(plainMd5Up, await meter.TimeAsync(() =>
                plain.GetBlobClient($"md5-{round}.bin").UploadAsync(source, new BlobUploadOptions { TransferOptions = transfer, TransferValidation = md5 })));
            async Task StoreUp()
            {
                // A commit of new bytes: the local cache does not hold them yet (the commit moves its staged file there).
                if (manifest is not null && File.Exists(store.Cache.EntryPath(manifest.File("artifact.bin")))) File.Delete(store.Cache.EntryPath(manifest.File("artifact.bin")));
                storeUp = Timing.Best(storeUp, await meter.TimeAsync(async () => manifest = await store.CommitAsync(staging, Info)));
            }
            async Task PlainDown() => plainDown = Timing.Best(plainDown, await meter.TimeAsync(() =>
                plain.GetBlobClient($"artifact{round}.bin").DownloadToAsync(plainCopy, new BlobDownloadToOptions { TransferOptions = transfer })));
            async Task StoreDown()
            {
                if (File.Exists(store.Cache.EntryPath(manifest!.File("artifact.bin")))) File.Delete(store.Cache.EntryPath(manifest.File("artifact.bin")));
                storeDown = Timing.Best(storeDown, await meter.TimeAsync(() => store.GetLocalPathAsync(manifest, "artifact.bin")));
            }
            if (round % 2 == 0) { await PlainUp(); await PlainMd5Up(); await StoreUp(); await PlainDown(); await StoreDown(); }
            else { await StoreUp(); await PlainMd5Up(); await PlainUp(); await StoreDown(); await PlainDown(); }
            File.Delete(plainCopy);
        }

        /// <summary>A second read of the committed file, which must come from the local cache.</summary>
        public async Task<Timing> RereadAsync()
        {
            var cached = await store.GetLocalPathAsync(manifest!, "artifact.bin");
            string? again = null;
            var reread = await meter.TimeAsync(async () => { again = await store.GetLocalPathAsync(manifest!, "artifact.bin"); await ReadAllAsync(again); });
            if (again != cached) throw new InvalidOperationException("the second read did not come from the cache");
            return reread;
        }

        public List<(string, double, string)> Results(int mb, Timing reread)
        {
            double Mbps(Timing t) => bytes / 1e6 / t.Seconds;
            string Cpu(Timing t) => $"CPU-s (client {t.ClientCpu:F2} + Azurite {t.ServerCpu:F2}) in {t.Seconds:F2} s";
            return
            [
                ($"plain SDK upload ({mb} MiB)", Mbps(plainUp), "MB/s"),
                ("plain SDK upload, per-block MD5 as the store", Mbps(plainMd5Up), "MB/s"),
                ("store commit (upload)", Mbps(storeUp), "MB/s"),
                ("upload overhead vs plain SDK defaults", (storeUp.Seconds / plainUp.Seconds - 1) * 100, "%"),
                ("upload overhead vs plain with MD5", (storeUp.Seconds / plainMd5Up.Seconds - 1) * 100, "%"),
                ("plain SDK download", Mbps(plainDown), "MB/s"),
                ("store download (verified cache fill)", Mbps(storeDown), "MB/s"),
                ("download overhead", (storeDown.Seconds / plainDown.Seconds - 1) * 100, "%"),
                ("cached re-read", bytes / 1e6 / reread.Seconds, "MB/s"),
                ("CPU of the best plain upload with MD5", plainMd5Up.ClientCpu + plainMd5Up.ServerCpu, Cpu(plainMd5Up)),
                ("CPU of the best store upload", storeUp.ClientCpu + storeUp.ServerCpu, Cpu(storeUp)),
                ("CPU of the best plain download", plainDown.ClientCpu + plainDown.ServerCpu, Cpu(plainDown)),
                ("CPU of the best store download", storeDown.ClientCpu + storeDown.ServerCpu, Cpu(storeDown)),
            ];
        }
    }

    private static async Task<Manifest> CommitSmallAsync(BlobArtifactStore store, string fp)
    {
        var staging = await store.BeginStagingAsync(fp);
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "artifact.bin"), new byte[1 << 20]);
        return await store.CommitAsync(staging, Info);
    }

    private static ManifestInfo Info => new("bench", "bench", "0", new Dictionary<string, string>(), DateTimeOffset.UtcNow, TimeSpan.Zero);

    /// <summary>Wall seconds of one timed operation and the CPU seconds spent meanwhile by this process and by Azurite.</summary>
    private sealed record Timing(double Seconds, double ClientCpu, double ServerCpu)
    {
        public static Timing Best(Timing a, Timing b) => b.Seconds < a.Seconds ? b : a;
    }

    /// <summary>Times operations with the CPU both sides used: on two shared cores, CPU is what the transfers compete for.</summary>
    private sealed class CpuMeter(int? azuritePid)
    {
        public async Task<Timing> TimeAsync(Func<Task> op)
        {
            var (client, server) = (Process.GetCurrentProcess().TotalProcessorTime, ServerCpu());
            var sw = Stopwatch.StartNew();
            await op();
            var seconds = sw.Elapsed.TotalSeconds;
            return new Timing(seconds, (Process.GetCurrentProcess().TotalProcessorTime - client).TotalSeconds, ServerCpu() - server);
        }

        /// <summary>utime + stime of Azurite from /proc (0 where there is no /proc).</summary>
        private double ServerCpu()
        {
            var stat = $"/proc/{azuritePid}/stat";
            if (azuritePid is null || !File.Exists(stat)) return 0;
            // Fields after the parenthesised command: state is the 3rd field, utime the 14th, stime the 15th.
            var fields = File.ReadAllText(stat).Split(')', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
        }
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

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;

namespace Fusion.Artifacts.Benchmarks;

/// <summary>
/// `fusion bench verify [-s mib=1024] [-s repeat=5] [-s folder=DIR]`: what checking an input against its manifest costs.
/// Commits one file of random bytes to a local store in <c>folder</c> (default: a temp folder), then times, each
/// <c>repeat</c> times (median and best): a plain read and a verification (read + SHA-256, <see cref="FileVerifier"/>) with
/// the file's pages evicted from the page cache first (cold, posix_fadvise DONTNEED after fsync; Linux only) and with them
/// cached (warm); SHA-256 of bytes already in memory; and the store's read of the file (<see cref="LocalArtifactStore.GetLocalPathAsync"/>)
/// the first time in a process and again (remembered: no hashing).
/// </summary>
public static class VerifyBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options) =>
        RunAsync(options).GetAwaiter().GetResult();

    private static async Task<List<(string, double, string)>> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var mib = int.Parse(options.GetValueOrDefault("mib", "1024"), CultureInfo.InvariantCulture);
        var repeat = int.Parse(options.GetValueOrDefault("repeat", "5"), CultureInfo.InvariantCulture);
        var parent = options.TryGetValue("folder", out var f) ? Directory.CreateDirectory(f).FullName : Path.GetTempPath();
        var root = Directory.CreateDirectory(Path.Combine(parent, $"fusion-verifybench-{Guid.NewGuid():N}")).FullName;
        try
        {
            var store = new LocalArtifactStore(Path.Combine(root, "store"));
            var manifest = await CommitRandomAsync(store, (long)mib << 20);
            // Not through the store: its first read in this process is one of the measurements.
            var path = Path.Combine(store.ArtifactDirectory(manifest.Fingerprint), "files", "artifact.bin");
            var rows = new List<(string, double, string)>();
            // Wall time, and the process's CPU time: on a shared machine the CPU time is what the work itself costs.
            void Add(string what, List<(double Wall, double Cpu)> times)
            {
                var wall = times.Select(t => t.Wall).Order().ToList();
                var cpu = times.Select(t => t.Cpu).Order().ToList();
                rows.Add(($"{what}: wall median (best)", wall[wall.Count / 2], $"s ({wall[0]:F3})"));
                rows.Add(($"{what}: CPU median (best)", cpu[cpu.Count / 2], $"s ({cpu[0]:F3})"));
                rows.Add(($"{what}: per wall second, median", mib / wall[wall.Count / 2], "MiB/s"));
                rows.Add(($"{what}: per CPU second, median", mib / cpu[cpu.Count / 2], "MiB/s"));
            }
            Add("plain read, cold", await TimesAsync(repeat, () => ReadAllAsync(path), path));
            Add("plain read, warm", await TimesAsync(repeat, () => ReadAllAsync(path)));
            Add("verify (read + SHA-256), cold", await TimesAsync(repeat, () => new FileVerifier().Sha256Async(path, default), path));
            Add("verify (read + SHA-256), warm", await TimesAsync(repeat, () => new FileVerifier().Sha256Async(path, default)));
            Add("SHA-256 in memory", await InMemory(repeat, mib));
            rows.AddRange(await StoreReadsAsync(store, manifest, path));
            return rows;
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    private static async Task<Manifest> CommitRandomAsync(LocalArtifactStore store, long bytes)
    {
        var fp = new string('b', 64);
        var staging = await store.BeginStagingAsync(fp);
        var block = new byte[1 << 20];
        await using (var file = new FileStream(Path.Combine(staging.Directory, "artifact.bin"), FileMode.CreateNew))
        {
            for (long done = 0; done < bytes; done += block.Length)
            {
                RandomNumberGenerator.Fill(block);
                await file.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, bytes - done)));
            }
            file.Flush(flushToDisk: true);
        }
        var info = new ManifestInfo("bench", "bench", "1", new Dictionary<string, string>(), DateTimeOffset.UtcNow, TimeSpan.Zero);
        return await store.CommitAsync(staging, info);
    }

    /// <summary>The store's first read of the file in a process (hashed) and a second one (remembered), in seconds.</summary>
    private static async Task<List<(string, double, string)>> StoreReadsAsync(LocalArtifactStore store, Manifest manifest, string path)
    {
        // Remembered only once its last change is older than a timestamp tick.
        while (FileIdentity.Of(path)!.Value.LastChange > DateTimeOffset.UtcNow - FileVerifier.Settle) await Task.Delay(100);
        var before = FileVerifier.Shared.Totals;
        var (clock, cpu) = (Stopwatch.StartNew(), Cpu());
        await store.GetLocalPathAsync(manifest, "artifact.bin");
        var (first, firstCpu) = (clock.Elapsed.TotalSeconds, Cpu() - cpu);
        clock.Restart();
        await store.GetLocalPathAsync(manifest, "artifact.bin");
        var again = clock.Elapsed.TotalSeconds;
        var hashed = FileVerifier.Shared.Totals - before;
        return [("store read, first in process (warm): wall", first, "s"), ("store read, first in process (warm): CPU", firstCpu, "s"),
            ("store read, again (remembered): wall", again * 1e6, "µs"), ("files hashed by the two store reads", hashed.Files, "")];
    }

    private static async Task<List<(double Wall, double Cpu)>> TimesAsync(int repeat, Func<Task> action, string? evict = null)
    {
        var times = new List<(double, double)>();
        await action(); // warm-up: JIT, and the cache for warm rounds
        for (var i = 0; i < repeat; i++)
        {
            if (evict is not null) PageCache.Evict(evict);
            var (clock, cpu) = (Stopwatch.StartNew(), Cpu());
            await action();
            times.Add((clock.Elapsed.TotalSeconds, Cpu() - cpu));
        }
        return times;
    }

    private static Task<List<(double Wall, double Cpu)>> InMemory(int repeat, int mib)
    {
        var buffer = new byte[Math.Min(mib, 256) << 20];
        RandomNumberGenerator.Fill(buffer);
        return TimesAsync(repeat, () =>
        {
            for (long done = 0; done < (long)mib << 20; done += buffer.Length) SHA256.HashData(buffer);
            return Task.CompletedTask;
        });
    }

    private static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static async Task ReadAllAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        while (await stream.ReadAsync(buffer) > 0) { }
    }

    /// <summary>Drops a file's pages from the page cache, so its next read comes from the disk.</summary>
    private static class PageCache
    {
        private const int DontNeed = 4; // POSIX_FADV_DONTNEED on Linux

        public static void Evict(string path)
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("evicting a file from the page cache needs Linux (posix_fadvise)");
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var rc = Fadvise((int)handle.DangerousGetHandle(), 0, 0, DontNeed);
            if (rc != 0) throw new IOException($"posix_fadvise({path}) failed with error {rc}");
        }

        [DllImport("libc", EntryPoint = "posix_fadvise")]
        private static extern int Fadvise(int fd, long offset, long length, int advice);
    }
}

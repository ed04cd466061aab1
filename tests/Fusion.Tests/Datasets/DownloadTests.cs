using System.IO.Compression;
using System.Security.Cryptography;
using Fusion.Datasets.Download;
using Fusion.Tests.Support;

namespace Fusion.Tests.Datasets;

public sealed class DownloadTests
{
    static readonly DownloadOptions Fast = new() { InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(50), MaxRetries = 4 };

    static byte[] RandomBytes(int n, int seed) { var b = new byte[n]; new Random(seed).NextBytes(b); return b; }
    static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    sealed class Recorder : IProgress<DownloadProgress>
    {
        public readonly List<DownloadProgress> Seen = [];
        public void Report(DownloadProgress value) { lock (Seen) Seen.Add(value); }
    }

    [Fact]
    public async Task Connection_reset_mid_file_resumes_with_a_range_request()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(600_000, 1);
        server.Files["big.bin"] = data;
        server.Faults = (_, n) => n == 0 ? new Fault.ResetAfter(200_000) : null;
        using var dir = new TempDir();
        using var http = new HttpClient();
        var progress = new Recorder();
        var result = await new HttpDownloader(http, Fast).DownloadAsync(
            new DownloadSource(server.Url("big.bin"), dir["big.bin"]) { Sha256 = Sha(data), ExpectedSize = data.Length }, progress);
        Assert.Equal(data, await File.ReadAllBytesAsync(dir["big.bin"]));
        Assert.Equal(2, result.Attempts);
        var second = server.Requests.Last();
        Assert.True(second.RangeStart > 0, "the retry must resume with a Range request");
        Assert.False(File.Exists(dir["big.bin.part"]));
        Assert.Equal(data.Length, progress.Seen.Last().Bytes);
        Assert.Equal(data.Length, progress.Seen.Last().Total);
    }

    [Fact]
    public async Task A_stalled_connection_times_out_and_resumes()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(100_000, 8);
        server.Files["s.bin"] = data;
        server.Faults = (_, n) => n == 0 ? new Fault.StallAfter(40_000, TimeSpan.FromSeconds(60)) : null;
        using var dir = new TempDir();
        using var http = new HttpClient();
        Exception? reason = null;
        var options = new DownloadOptions { InitialDelay = TimeSpan.FromMilliseconds(10), StallTimeout = TimeSpan.FromSeconds(3), OnRetry = (_, _, e) => reason = e };
        // The stall window is generous: on a loaded machine a healthy connection can go quiet for a few hundred ms.
        var result = await new HttpDownloader(http, options).DownloadAsync(new DownloadSource(server.Url("s.bin"), dir["s.bin"]) { Sha256 = Sha(data) });
        Assert.Equal(2, result.Attempts);
        Assert.IsType<TimeoutException>(reason);
        Assert.True(server.Requests.Last().RangeStart > 0);
        Assert.Equal(data, await File.ReadAllBytesAsync(dir["s.bin"]));
    }

    [Fact]
    public async Task Service_unavailable_is_retried_then_succeeds()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(10_000, 2);
        server.Files["f.bin"] = data;
        server.Faults = (_, n) => n < 2 ? new Fault.Status(503) : null;
        using var dir = new TempDir();
        using var http = new HttpClient();
        var retries = new List<int>();
        var options = new DownloadOptions { InitialDelay = TimeSpan.FromMilliseconds(10), MaxRetries = 4, OnRetry = (a, _, _) => retries.Add(a) };
        var result = await new HttpDownloader(http, options).DownloadAsync(new DownloadSource(server.Url("f.bin"), dir["f.bin"]) { Sha256 = Sha(data) });
        Assert.Equal(3, result.Attempts);
        Assert.Equal([1, 2], retries);
        Assert.Equal(Sha(data), result.Sha256);
    }

    [Fact]
    public async Task Truncated_file_fails_its_hash_and_is_downloaded_again()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(50_000, 3);
        server.Files["t.bin"] = data;
        server.Faults = (_, n) => n == 0 ? new Fault.Serve(data[..30_000]) : null;
        using var dir = new TempDir();
        using var http = new HttpClient();
        var result = await new HttpDownloader(http, Fast).DownloadAsync(new DownloadSource(server.Url("t.bin"), dir["t.bin"]) { Sha256 = Sha(data) });
        Assert.Equal(1, result.Refetches);
        Assert.Equal(data, await File.ReadAllBytesAsync(dir["t.bin"]));
        Assert.Equal(2, server.Count("t.bin"));
        Assert.All(server.Requests, r => Assert.Null(r.RangeStart)); // the bad file was deleted, not resumed
    }

    [Fact]
    public async Task Content_that_never_matches_its_pin_is_a_clear_error_and_leaves_nothing()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(5_000, 4);
        server.Files["w.bin"] = data;
        using var dir = new TempDir();
        using var http = new HttpClient();
        var pin = new string('a', 64);
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() =>
            new HttpDownloader(http, Fast).DownloadAsync(new DownloadSource(server.Url("w.bin"), dir["w.bin"]) { Sha256 = pin }));
        Assert.Contains(Sha(data), e.Message);
        Assert.Contains("expected " + pin, e.Message);
        Assert.Contains("w.bin", e.Message);
        Assert.False(File.Exists(dir["w.bin"]));
        Assert.False(File.Exists(dir["w.bin.part"]));
        var wrongSize = await Assert.ThrowsAsync<DigestMismatchException>(() =>
            new HttpDownloader(http, Fast).DownloadAsync(new DownloadSource(server.Url("w.bin"), dir["w.bin"]) { ExpectedSize = 4_000 }));
        Assert.Contains($"SHA-256 {Sha(data)}; size 5000 bytes, expected 4000", wrongSize.Message);   // the digest too, though only the size was pinned
    }

    [Fact]
    public async Task An_existing_part_file_is_resumed_and_a_verified_file_is_reused()
    {
        await using var server = new LocalHttpServer();
        var data = RandomBytes(40_000, 5);
        server.Files["p.bin"] = data;
        using var dir = new TempDir();
        await File.WriteAllBytesAsync(dir["p.bin.part"], data[..12_345]);
        using var http = new HttpClient();
        var dl = new HttpDownloader(http, Fast);
        var src = new DownloadSource(server.Url("p.bin"), dir["p.bin"]) { Sha256 = Sha(data), ExpectedSize = data.Length };
        var first = await dl.DownloadAsync(src);
        Assert.Equal(12_345, first.ResumedFrom);
        Assert.Equal(12_345, server.Requests.Single().RangeStart);
        Assert.Equal(data, await File.ReadAllBytesAsync(dir["p.bin"]));
        var again = await dl.DownloadAsync(src);
        Assert.True(again.Reused);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Permanent_http_errors_are_not_retried()
    {
        await using var server = new LocalHttpServer();
        using var dir = new TempDir();
        using var http = new HttpClient();
        var e = await Assert.ThrowsAsync<DownloadException>(() => new HttpDownloader(http, Fast).DownloadAsync(new DownloadSource(server.Url("missing.zip"), dir["m.zip"])));
        Assert.Contains("HTTP 404", e.Message);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_local_file_replaces_the_download_on_offline_machines()
    {
        using var dir = new TempDir();
        var data = RandomBytes(3_000, 6);
        await File.WriteAllBytesAsync(dir["local.zip"], data);
        using var http = new HttpClient();
        var dl = new HttpDownloader(http, Fast);
        var unreachable = new Uri("http://127.0.0.1:9/never");
        var r = await dl.DownloadAsync(new DownloadSource(unreachable, dir["out/a.zip"]) { LocalPath = dir["local.zip"], Sha256 = Sha(data) });
        Assert.Equal(data, await File.ReadAllBytesAsync(dir["out/a.zip"]));
        Assert.Equal(Sha(data), r.Sha256);
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() =>
            dl.DownloadAsync(new DownloadSource(unreachable, dir["out/b.zip"]) { LocalPath = dir["local.zip"], Sha256 = new string('0', 64) }));
        Assert.Contains("local.zip", e.Message);
        Assert.Equal((new string('0', 64), Sha(data)), (e.ExpectedSha256, e.ActualSha256));
    }

    [Fact]
    public void Zip_slip_and_absolute_entries_are_refused_and_reported()
    {
        using var dir = new TempDir();
        using (var zip = ZipFile.Open(dir["a.zip"], ZipArchiveMode.Create))
        {
            foreach (var name in new[] { "train2014/ok.txt", "../evil.txt", "/abs.txt", "train2014/../../evil2.txt", "..\\evil3.txt", "train2014/sub/inner.txt" })
                using (var w = new StreamWriter(zip.CreateEntry(name).Open())) w.Write(name);
        }
        var report = SafeZip.Extract(dir["a.zip"], dir["out"]);
        Assert.Equal(["train2014/ok.txt", "train2014/sub/inner.txt"], report.Extracted);
        Assert.Equal(["../evil.txt", "/abs.txt", "train2014/../../evil2.txt", "..\\evil3.txt"], report.Refused.Select(r => r.Name));
        Assert.Contains("absolute", report.Refused[1].Reason);
        Assert.Contains("escapes the target folder", report.Refused[0].Reason);
        Assert.False(File.Exists(dir["evil.txt"]));
        Assert.False(File.Exists(dir["evil2.txt"]));
        Assert.False(File.Exists(dir["evil3.txt"]));
        Assert.Equal("train2014/ok.txt", File.ReadAllText(dir["out/train2014/ok.txt"]));
        var again = SafeZip.Extract(dir["a.zip"], dir["out"]);
        Assert.Empty(again.Extracted);
        Assert.Equal(2, again.AlreadyPresent);
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Polly;
using Polly.Retry;

namespace Fusion.Datasets.Download;

/// <summary>
/// Resumable, verified HTTP downloads. Bytes go to <c>Destination.part</c>; each attempt continues it with a range
/// request. Transient failures (connection reset, truncated body, stall, 5xx/408/429) are retried by Polly with
/// exponential backoff and jitter. The finished file is checked against the pinned size and SHA-256; a mismatch
/// deletes it and fetches once more, then fails with both hashes. Only a verified file is renamed into place.
/// </summary>
public sealed class HttpDownloader(HttpClient http, DownloadOptions? options = null)
{
    readonly DownloadOptions _o = options ?? new DownloadOptions();

    public async Task<DownloadResult> DownloadAsync(DownloadSource source, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        if (source.LocalPath is { } local) return await UseLocalAsync(source, local, ct);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(source.Destination))!);
        if (File.Exists(source.Destination))
        {
            if (await VerifyAsync(source, source.Destination, ct) is { Matches: true } present)
                return new DownloadResult(source.Destination, present.Size, present.Sha256, Reused: true, 0, 0, 0);
            File.Delete(source.Destination); // present but wrong: fetch it again
        }
        var part = source.Destination + ".part";
        var resumedFrom = File.Exists(part) ? new FileInfo(part).Length : 0;
        var attempts = 0;
        for (var refetch = 0; ; refetch++)
        {
            attempts += await FetchWithRetriesAsync(source, part, progress, ct);
            var check = await VerifyAsync(source, part, ct);
            if (check.Matches)
            {
                File.Move(part, source.Destination, overwrite: true);
                return new DownloadResult(source.Destination, check.Size, check.Sha256, false, attempts, refetch, resumedFrom);
            }
            File.Delete(part);
            if (refetch == 1) throw check.Mismatch(source.Url.ToString(), " — also after deleting it and downloading again; giving up");
        }
    }

    async Task<DownloadResult> UseLocalAsync(DownloadSource source, string local, CancellationToken ct)
    {
        if (!File.Exists(local)) throw new DownloadException($"local file for {source.Name} not found: {local}");
        if (await VerifyAsync(source, local, ct) is { Matches: false } check) throw check.Mismatch($"local file {local}");
        if (Path.GetFullPath(local) != Path.GetFullPath(source.Destination))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(source.Destination))!);
            File.Copy(local, source.Destination + ".part", overwrite: true);
            File.Move(source.Destination + ".part", source.Destination, overwrite: true);
        }
        var copied = await VerifyAsync(source, source.Destination, ct);
        return new DownloadResult(source.Destination, copied.Size, copied.Sha256, Reused: true, 0, 0, 0);
    }

    /// <summary>A file's size and SHA-256 against the source's pins.</summary>
    sealed record Check(DownloadSource Source, long Size, string Sha256)
    {
        public bool Matches =>
            (Source.ExpectedSize is not { } want || want == Size) && (Source.Sha256 is not { } pin || string.Equals(pin, Sha256, StringComparison.OrdinalIgnoreCase));

        public DigestMismatchException Mismatch(string subject, string? suffix = null) =>
            new(subject, Source.Sha256?.ToLowerInvariant(), Sha256, Source.ExpectedSize, Size, suffix);
    }

    /// <summary>Hashes the whole file even when its size is already wrong, so a mismatch names both digests.</summary>
    static async Task<Check> VerifyAsync(DownloadSource s, string path, CancellationToken ct)
    {
        var size = new FileInfo(path).Length;
        await using var f = File.OpenRead(path);
        return new Check(s, size, Convert.ToHexStringLower(await SHA256.HashDataAsync(f, ct)));
    }

    async Task<int> FetchWithRetriesAsync(DownloadSource source, string part, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var attempts = 0;
        var pipeline = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = _o.MaxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = _o.InitialDelay,
            MaxDelay = _o.MaxDelay,
            ShouldHandle = new PredicateBuilder()
                .Handle<HttpRequestException>(e => e is TransientHttpException || e.StatusCode is null)
                .Handle<IOException>(e => e is not DownloadException)
                .Handle<TimeoutException>(),
            OnRetry = a => { _o.OnRetry?.Invoke(a.AttemptNumber + 1, a.RetryDelay, a.Outcome.Exception); return ValueTask.CompletedTask; },
        }).Build();
        await pipeline.ExecuteAsync(async token => { attempts++; await FetchOnceAsync(source, part, progress, token); }, ct);
        return attempts;
    }

    async Task FetchOnceAsync(DownloadSource source, string part, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (source.ExpectedSize is { } expected)
        {
            if (have == expected) return;
            if (have > expected) { File.Delete(part); have = 0; }
        }
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(_o.StallTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, source.Url);
            if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token);
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                if (response.Content.Headers.ContentRange?.Length == have) return; // the .part is already complete
                File.Delete(part);
                throw new IOException($"{source.Url}: server refused to resume at byte {have}; restarting from 0");
            }
            if (status >= 500 || status is 408 or 429)
                throw new TransientHttpException($"{source.Url}: HTTP {status} {response.ReasonPhrase}", response.StatusCode);
            if (!response.IsSuccessStatusCode)
                throw new DownloadException($"{source.Url}: HTTP {status} {response.ReasonPhrase}");
            var append = response.StatusCode == HttpStatusCode.PartialContent;
            if (append && response.Content.Headers.ContentRange?.From != have)
            {
                File.Delete(part);
                throw new IOException($"{source.Url}: asked for bytes from {have}, got range {response.Content.Headers.ContentRange}; restarting from 0");
            }
            if (!append) have = 0;
            long? total = response.Content.Headers.ContentLength is { } len ? have + len : source.ExpectedSize;
            await using var body = await response.Content.ReadAsStreamAsync(stall.Token);
            await using var file = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
            var buffer = new byte[_o.BufferSize];
            var clock = Stopwatch.StartNew();
            long received = 0, lastReport = 0;
            while (true)
            {
                var n = await body.ReadAsync(buffer, stall.Token);
                if (n == 0) break;
                stall.CancelAfter(_o.StallTimeout);
                await file.WriteAsync(buffer.AsMemory(0, n), ct);
                received += n;
                if (progress is not null && (clock.ElapsedMilliseconds - lastReport >= 100 || have + received == total))
                {
                    lastReport = clock.ElapsedMilliseconds;
                    progress.Report(new DownloadProgress(source.Name, have + received, total, received / Math.Max(1e-3, clock.Elapsed.TotalSeconds)));
                }
            }
            await file.FlushAsync(ct);
            if (total is { } t && have + received < t)
                throw new IOException($"{source.Url}: connection closed after {have + received} of {t} bytes");
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            // our stall timer, or HttpClient.Timeout while waiting for headers: both are worth a retry
            throw new TimeoutException(stall.IsCancellationRequested ? $"{source.Url}: no data for {_o.StallTimeout.TotalSeconds:F0} s" : $"{source.Url}: {e.Message}", e);
        }
    }
}

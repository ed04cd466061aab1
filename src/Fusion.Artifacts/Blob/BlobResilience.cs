extern alias AzureIdentity;
using Azure;
using AzureIdentity::Azure.Identity;
using Fusion.Artifacts.Store;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// Runs blob operations through Polly: retries with exponential backoff and jitter on transient failures (network,
/// 408/429/5xx, per-attempt timeouts), a time limit per attempt, and translation of what finally escapes into a
/// <see cref="BlobStoreException"/> whose message is scrubbed of every secret the credential holds.
/// </summary>
internal sealed class BlobResilience
{
    private static readonly ResiliencePropertyKey<TimeSpan> TimeoutKey = new("fusion.blob.timeout");
    private readonly ResiliencePipeline _pipeline;
    private readonly string[] _secrets;
    private readonly string _location;

    public BlobResilience(BlobStoreOptions options, IEnumerable<string> secrets, string location)
    {
        _secrets = secrets.Where(s => s.Length > 0).Distinct().OrderByDescending(s => s.Length).ToArray();
        _location = location;
        _pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e, args.Context.CancellationToken)),
                MaxRetryAttempts = Math.Max(0, options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = TimeSpan.FromSeconds(30),
            })
            .AddTimeout(new TimeoutStrategyOptions
            {
                TimeoutGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(TimeoutKey, options.OperationTimeout)),
            })
            .Build();
    }

    /// <summary>Runs <paramref name="op"/> (what = "upload 'name'", for messages) with retries and a per-attempt limit.</summary>
    public async Task<T> RunAsync<T>(string what, TimeSpan timeout, Func<CancellationToken, Task<T>> op, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(TimeoutKey, timeout);
        try
        {
            return await _pipeline.ExecuteAsync(async c => await op(c.CancellationToken).ConfigureAwait(false), context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            if (e is BlobStoreException or ArtifactCorruptException) throw;
            throw Translate(what, e);
        }
        finally { ResilienceContextPool.Shared.Return(context); }
    }

    public Task RunAsync(string what, TimeSpan timeout, Func<CancellationToken, Task> op, CancellationToken ct) =>
        RunAsync(what, timeout, async c => { await op(c).ConfigureAwait(false); return true; }, ct);

    public static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        RequestFailedException r => r.Status is 0 or 408 or 429 or 500 or 502 or 503 or 504,
        AggregateException a => a.InnerExceptions.Count > 0 && a.InnerExceptions.All(x => IsTransient(x, ct)),
        BlobStoreException or ArtifactCorruptException => false,
        TimeoutRejectedException => true,
        HttpRequestException or IOException or System.Net.Sockets.SocketException => true,
        OperationCanceledException => !ct.IsCancellationRequested, // the SDK's network timeout, not the caller
        _ => false,
    };

    /// <summary>A clear, secret-free exception for what escaped the retries.</summary>
    public BlobStoreException Translate(string what, Exception e)
    {
        var (status, code) = Find(e);
        var why = status switch
        {
            401 or 403 when code is "AuthenticationFailed" or "InvalidAuthenticationInfo" or "AuthorizationFailure" or null or "" =>
                "authentication failed: the credentials were rejected (check the account key, SAS token or identity, and its rights)",
            401 or 403 => "access denied: the credentials were accepted but lack the permission",
            404 => "not found",
            _ when e is AuthenticationFailedException or CredentialUnavailableException => "could not obtain an Entra ID token",
            _ => IsTransient(e, CancellationToken.None) ? "the service could not be reached or kept failing" : "the service refused it",
        };
        var detail = Scrub(Summarize(e));
        var codePart = status != 0 ? $" [HTTP {status}{(code is { Length: > 0 } ? " " + code : "")}]" : "";
        return new BlobStoreException($"{_location}: {what}: {why}{codePart}. {detail}", status, code, IsTransient(e, CancellationToken.None));
    }

    private static (int Status, string? Code) Find(Exception e) => e switch
    {
        RequestFailedException r => (r.Status, r.ErrorCode),
        AggregateException a => a.InnerExceptions.Select(Find).LastOrDefault(x => x.Status != 0, (0, null)),
        { InnerException: { } inner } => Find(inner),
        _ => (0, null),
    };

    /// <summary>First lines of each distinct cause (the SDK's own messages end with request dumps we do not want).</summary>
    private static string Summarize(Exception e)
    {
        var seen = new List<string>();
        for (var x = e; x is not null; x = x is AggregateException a && a.InnerExceptions.Count > 0 ? a.InnerExceptions[^1] : x.InnerException)
        {
            var first = x.Message.Split('\n', 2)[0].Trim();
            if (first.Length > 0 && !seen.Contains(first)) seen.Add(first);
        }
        return string.Join(" <- ", seen);
    }

    public string Scrub(string text)
    {
        foreach (var s in _secrets) text = text.Replace(s, "***", StringComparison.Ordinal);
        return text;
    }
}

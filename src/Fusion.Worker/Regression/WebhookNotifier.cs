using System.Net;
using System.Net.Http.Json;
using Fusion.Worker.Documents;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Fusion.Worker.Regression;

/// <summary>What is posted after a scheduled run: a chat-friendly <see cref="Text"/> plus the full report.</summary>
public sealed record RunNotification(string RunId, string Schedule, string Status, string Text, RegressionReport? Report);

/// <summary>
/// Posts a <see cref="RunNotification"/> as JSON to <see cref="WebhookOptions.Url"/>, retrying transport errors,
/// timeouts, 408, 429 and 5xx with exponential back-off and jitter (Polly). A webhook that stays down is logged, never
/// fatal: the report documents are the record.
/// </summary>
public sealed class WebhookNotifier
{
    private readonly HttpClient http;
    private readonly WebhookOptions options;
    private readonly ILogger logger;
    private readonly ResiliencePipeline<HttpResponseMessage> pipeline;

    public WebhookNotifier(HttpClient http, WebhookOptions options, ILogger<WebhookNotifier> logger)
    {
        this.http = http;
        this.options = options;
        this.logger = logger;
        pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(0, options.MaxAttempts - 1),
                Delay = options.FirstRetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests),
                OnRetry = args =>
                {
                    logger.LogWarning("webhook attempt {Attempt} failed ({Why}); retrying in {Delay}", args.AttemptNumber + 1,
                        args.Outcome.Exception?.Message ?? $"HTTP {(int)args.Outcome.Result!.StatusCode}", args.RetryDelay);
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }

    public bool Enabled => !string.IsNullOrWhiteSpace(options.Url);

    /// <summary>True when the webhook accepted the notification (2xx) within the allowed attempts.</summary>
    public async Task<bool> PostAsync(RunNotification notification, CancellationToken ct)
    {
        if (!Enabled) return false;
        try
        {
            using var response = await pipeline.ExecuteAsync(async token =>
                await http.PostAsJsonAsync(options.Url, notification, WorkerJson.Options, token), ct);
            if (response.IsSuccessStatusCode) return true;
            logger.LogError("webhook {Url} refused the notification of {Run}: HTTP {Status}", options.Url, notification.RunId, (int)response.StatusCode);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException)
        {
            logger.LogError("webhook {Url} unreachable for {Run} after {Attempts} attempts: {Error}", options.Url, notification.RunId, options.MaxAttempts, e.Message);
        }
        return false;
    }
}

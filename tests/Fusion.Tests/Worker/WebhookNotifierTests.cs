using Fusion.Worker.Regression;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Worker;

public sealed class WebhookNotifierTests
{
    private static WebhookNotifier Notifier(string url, int attempts) => new(new HttpClient(),
        new WebhookOptions { Url = url, MaxAttempts = attempts, FirstRetryDelay = TimeSpan.FromMilliseconds(50), AttemptTimeout = TimeSpan.FromSeconds(10) },
        NullLogger<WebhookNotifier>.Instance);

    private static readonly RunNotification Note = new("nightly-2026-11-26", "nightly", "regressed", "nightly-2026-11-26: REGRESSED", null);

    [Fact]
    public async Task Server_errors_are_retried_until_the_webhook_accepts()
    {
        using var hook = new LoopbackWebhook(503, 500, 200);
        Assert.True(await Notifier(hook.Url, attempts: 5).PostAsync(Note, CancellationToken.None));
        Assert.Equal(3, hook.Requests);
        Assert.All(hook.Bodies, b => Assert.Contains("\"runId\": \"nightly-2026-11-26\"", b));
        Assert.Contains("\"text\": \"nightly-2026-11-26: REGRESSED\"", hook.Bodies.Last());
    }

    [Fact]
    public async Task A_webhook_that_stays_down_gives_up_after_the_allowed_attempts()
    {
        using var hook = new LoopbackWebhook(503);
        Assert.False(await Notifier(hook.Url, attempts: 3).PostAsync(Note, CancellationToken.None));
        Assert.Equal(3, hook.Requests);
    }

    [Fact]
    public async Task A_client_error_is_not_retried()
    {
        using var hook = new LoopbackWebhook(404);
        Assert.False(await Notifier(hook.Url, attempts: 4).PostAsync(Note, CancellationToken.None));
        Assert.Equal(1, hook.Requests);
    }
}

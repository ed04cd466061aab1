using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Hosting;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Fusion.Worker.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Tests.Worker;

/// <summary>The hosted worker with its schedules, against a fake engine (launcher + metrics table) and a loopback webhook.</summary>
public sealed class ScheduleServiceTests
{
    /// <summary>Records launches; each run's metrics are produced by <see cref="MetricsFor"/> (the n-th launch, 1-based).</summary>
    private sealed class FakeEngine(Func<int, Dictionary<string, MetricValue>> metricsFor, TimeSpan duration) : IRunLauncher, IRunMetricsSource
    {
        private int running, launches;
        public ConcurrentQueue<RunRequest> Requests { get; } = new();
        public ConcurrentDictionary<string, Dictionary<string, MetricValue>> Metrics { get; } = new();
        public int MaxConcurrent { get; private set; }
        public Func<int, Dictionary<string, MetricValue>> MetricsFor => metricsFor;

        public async Task<RunOutcome> RunAsync(RunRequest request, CancellationToken ct)
        {
            MaxConcurrent = Math.Max(MaxConcurrent, Interlocked.Increment(ref running));
            try
            {
                Requests.Enqueue(request);
                await Task.Delay(duration, ct);
                Metrics[request.RunId] = metricsFor(Interlocked.Increment(ref launches));
                return new RunOutcome(request.RunId, RunState.Succeeded);
            }
            finally { Interlocked.Decrement(ref running); }
        }

        public Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, MetricValue>?>(Metrics.GetValueOrDefault(runId));

        public Task<string?> GetPipelineAsync(string runId, CancellationToken ct) => Task.FromResult(Metrics.ContainsKey(runId) ? "test" : null);
    }

    private static Dictionary<string, MetricValue> Metrics(double fid) => new() { ["fid"] = new(fid, "FID"), ["clip_score"] = new(0.31, "CLIP score") };

    /// <summary>A clock stopped at half past an hour (timers still run on real time): an hourly schedule's "last missed
    /// occurrence" cannot move to the next hour while a test runs.</summary>
    private sealed class PinnedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static readonly DateTimeOffset HalfPast = new(2026, 11, 26, 10, 30, 0, TimeSpan.Zero);

    private static IHost Build(TempDir dir, FakeEngine engine, ConcurrentQueue<string> log, params string[] args) => Build(dir, engine, log, null, args);

    private static IHost Build(TempDir dir, FakeEngine engine, ConcurrentQueue<string> log, TimeProvider? clock, params string[] args)
    {
        var builder = WorkerHost.CreateBuilder([
            $"--Worker:Documents={dir.Path}", "--Worker:Schedules:fast:Pipeline=pipelines/test.yaml",
            "--Worker:Schedules:fast:Overrides:sample.n=8",
            "--Worker:Regression:Metrics:fid:Better=Lower", "--Worker:Regression:Metrics:fid:Absolute=0.5",
            "--Worker:Regression:Metrics:clip_score:Better=Higher", "--Worker:Regression:Metrics:clip_score:Absolute=0.01",
            "--Worker:Regression:Webhook:FirstRetryDelay=00:00:00.050", .. args]);
        builder.Services.AddSingleton<IRunLauncher>(engine);
        builder.Services.AddSingleton<IRunMetricsSource>(engine);
        if (clock is not null) builder.Services.AddSingleton(clock);
        builder.Logging.ClearProviders().AddProvider(new ListLogger(log)).SetMinimumLevel(LogLevel.Information);
        return builder.Build();
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        for (var deadline = DateTime.UtcNow + timeout; !condition(); await Task.Delay(50))
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
    }

    [Fact]
    public async Task A_two_second_cron_fires_and_each_run_is_checked_against_the_baseline()
    {
        using var dir = new TempDir();
        using var hook = new LoopbackWebhook(200);
        var docs = new FileDocumentStore(dir.Path);
        // The second scheduled run carries an injected regression (FID +5); the first is an unchanged rerun.
        var engine = new FakeEngine(n => Metrics(n == 2 ? 25.0 : 20.0), TimeSpan.Zero);
        engine.Metrics["blessed-run"] = Metrics(20.0);
        await new Baselines(docs).BlessAsync("fast", ["blessed-run"], engine);

        var log = new ConcurrentQueue<string>();
        using var host = Build(dir, engine, log, "--Worker:Schedules:fast:Cron=*/2 * * * * *", $"--Worker:Regression:Webhook:Url={hook.Url}");
        await host.StartAsync();
        await WaitUntil(() => hook.Requests >= 2, TimeSpan.FromSeconds(30), "two scheduled runs and their notifications");
        await host.StopAsync();

        var runs = engine.Requests.Take(2).ToList();
        Assert.All(runs, r =>
        {
            var m = Regex.Match(r.RunId, @"^fast-\d{4}-\d{2}-\d{2}-\d{4}(\d{2})$");
            Assert.True(m.Success, r.RunId);
            Assert.Equal(0, int.Parse(m.Groups[1].Value) % 2);
            Assert.Equal("pipelines/test.yaml", r.PipelinePath);
            Assert.Equal("8", r.Overrides["sample.n"]);
        });
        Assert.NotEqual(runs[0].RunId, runs[1].RunId);
        var status = new DocumentRunStatusWriter(docs);
        Assert.Equal("passed", (await status.GetAsync(runs[0].RunId, default))!.Status);
        Assert.Equal("regressed", (await status.GetAsync(runs[1].RunId, default))!.Status);
        Assert.Contains("**Regressed**", File.ReadAllText(Path.Combine(dir.Path, "worker", "runs", runs[1].RunId, "regression.md")));
        Assert.Contains("\"status\": \"passed\"", hook.Bodies.ElementAt(0));
        Assert.Contains("\"status\": \"regressed\"", hook.Bodies.ElementAt(1));
    }

    [Fact]
    public async Task An_occurrence_is_skipped_while_the_previous_run_is_still_going()
    {
        using var dir = new TempDir();
        var engine = new FakeEngine(_ => Metrics(20), TimeSpan.FromSeconds(2.5));
        var log = new ConcurrentQueue<string>();
        using var host = Build(dir, engine, log, "--Worker:Schedules:fast:Cron=* * * * * *", "--Worker:Schedules:fast:Baseline=");
        await host.StartAsync();
        await WaitUntil(() => log.Any(l => l.Contains("skipping")) && engine.Metrics.Count >= 1, TimeSpan.FromSeconds(30), "a skipped occurrence");
        await host.StopAsync();
        Assert.Equal(1, engine.MaxConcurrent);
        Assert.Contains(log, l => l.Contains("the previous run is still going"));
    }

    [Fact]
    public async Task A_missed_occurrence_is_caught_up_once_at_startup_and_not_again_after_a_restart()
    {
        using var dir = new TempDir();
        var engine = new FakeEngine(_ => Metrics(20), TimeSpan.Zero);
        var log = new ConcurrentQueue<string>();
        // Hourly, with a two-hour catch-up window: the last full hour's occurrence was "missed" and is run at start-up.
        string[] args = ["--Worker:Schedules:fast:Cron=0 * * * *", "--Worker:Schedules:fast:CatchUp=02:00:00", "--Worker:Schedules:fast:Baseline="];
        var clock = new PinnedClock(HalfPast);
        const string expected = "fast-2026-11-26-1000";
        using (var host = Build(dir, engine, log, clock, args))
        {
            await host.StartAsync();
            await WaitUntil(() => File.Exists(Path.Combine(dir.Path, "worker", "runs", expected, "status.json")), TimeSpan.FromSeconds(30), "the catch-up run");
            await host.StopAsync();
        }
        using (var again = Build(dir, engine, log, clock, args))
        {
            await again.StartAsync();
            await WaitUntil(() => log.Any(l => l.Contains("already started")), TimeSpan.FromSeconds(30), "the restart to see the claim");
            await again.StopAsync();
        }
        Assert.Equal(expected, Assert.Single(engine.Requests).RunId);
        Assert.Equal("succeeded", (await new DocumentRunStatusWriter(new FileDocumentStore(dir.Path)).GetAsync(expected, default))!.Status);
    }

    [Fact]
    public async Task A_run_cancelled_by_shutdown_is_resumed_by_the_next_start()
    {
        using var dir = new TempDir();
        var slow = new FakeEngine(_ => Metrics(20), TimeSpan.FromMinutes(5));
        var log = new ConcurrentQueue<string>();
        string[] args = ["--Worker:Schedules:fast:Cron=0 * * * *", "--Worker:Schedules:fast:CatchUp=02:00:00", "--Worker:Schedules:fast:Baseline="];
        var clock = new PinnedClock(HalfPast);
        using (var host = Build(dir, slow, log, clock, args))
        {
            await host.StartAsync();
            await WaitUntil(() => !slow.Requests.IsEmpty, TimeSpan.FromSeconds(30), "the run to start");
            await host.StopAsync();   // what SIGTERM does: the stopping token cancels the run
        }
        Assert.Contains(log, l => l.Contains("cancelled"));
        var fast = new FakeEngine(_ => Metrics(20), TimeSpan.Zero);
        using (var again = Build(dir, fast, log, clock, args))
        {
            await again.StartAsync();
            await WaitUntil(() => File.Exists(Path.Combine(dir.Path, "worker", "runs", slow.Requests.Single().RunId, "status.json")), TimeSpan.FromSeconds(30), "the resumed run");
            await again.StopAsync();
        }
        Assert.Equal(slow.Requests.Single().RunId, fast.Requests.Single().RunId);
        var state = await new RunClaims(new FileDocumentStore(dir.Path), "x").GetStateAsync(fast.Requests.Single().RunId, default);
        Assert.Equal((2, RunClaims.Finished), (state!.Attempt, state.State));
    }
}

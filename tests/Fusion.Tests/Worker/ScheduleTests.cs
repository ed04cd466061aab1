using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Scheduling;

namespace Fusion.Tests.Worker;

public sealed class ScheduleTests
{
    private static Schedule Make(string cron, string zone = "UTC", TimeSpan catchUp = default, string name = "nightly") =>
        new(name, new ScheduleOptions { Cron = cron, TimeZone = zone, Pipeline = "pipelines/nightly.yaml", CatchUp = catchUp });

    private static DateTimeOffset Utc(int day, int hour, int minute = 0) => new(2026, 11, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public void A_daily_schedule_names_runs_by_the_date_in_its_time_zone()
    {
        var s = Make("30 0 * * *", "Europe/Berlin");
        Assert.Equal("yyyy-MM-dd", s.RunIdFormat);
        var next = s.NextAfter(Utc(25, 12))!.Value;
        Assert.Equal(Utc(25, 23, 30), next);                 // 00:30 in Berlin (UTC+1 in November)
        Assert.Equal("nightly-2026-11-26", s.RunId(next));   // the Berlin date, not the UTC one
    }

    [Theory]
    [InlineData("0 * * * *", "yyyy-MM-dd-HHmm")]
    [InlineData("*/2 * * * * *", "yyyy-MM-dd-HHmmss")]
    [InlineData("0 2 * * 1", "yyyy-MM-dd")]
    public void The_run_id_format_is_the_coarsest_that_keeps_occurrences_apart(string cron, string format) =>
        Assert.Equal(format, Make(cron).RunIdFormat);

    [Fact]
    public void A_configured_run_id_format_that_merges_occurrences_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new Schedule("hourly",
            new ScheduleOptions { Cron = "0 * * * *", Pipeline = "p.yaml", RunIdFormat = "yyyy-MM-dd" }));
        Assert.Contains("same run id", e.Message);
    }

    [Fact]
    public void Only_the_most_recent_missed_occurrence_inside_the_window_is_caught_up()
    {
        var s = Make("0 2 * * *", catchUp: TimeSpan.FromHours(6));
        Assert.Equal(Utc(26, 2), s.MissedOccurrence(Utc(26, 5)));   // down at 02:00, back at 05:00: run tonight's once
        Assert.Equal(Utc(26, 2), s.MissedOccurrence(Utc(26, 2)));   // exactly at the occurrence
        Assert.Null(s.MissedOccurrence(Utc(26, 9)));                // 7 h late: outside the window, skip it
        Assert.Null(s.MissedOccurrence(Utc(26, 1)));                // 23 h since yesterday's: outside
        Assert.Null(Make("0 2 * * *").MissedOccurrence(Utc(26, 3))); // no window: never catch up
        var week = Make("0 2 * * *", catchUp: TimeSpan.FromDays(7));
        Assert.Equal(Utc(26, 2), week.MissedOccurrence(Utc(26, 3)));  // a week down: the latest one only, no backlog
    }

    [Theory]
    [InlineData("nightly", "0 2 * *", "UTC", "cron expression")]
    [InlineData("nightly", "0 2 * * *", "Mars/Olympus", "unknown time zone")]
    [InlineData("Nightly Run", "0 2 * * *", "UTC", "schedule name")]
    public void Bad_schedules_are_refused_naming_the_culprit(string name, string cron, string zone, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new Schedule(name, new ScheduleOptions { Cron = cron, TimeZone = zone, Pipeline = "p.yaml" }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task A_run_id_is_claimed_once_and_again_only_after_a_graceful_cancellation()
    {
        using var dir = new TempDir();
        var docs = new FileDocumentStore(dir.Path);
        var a = new RunClaims(docs, "worker-a");
        var b = new RunClaims(docs, "worker-b");
        Assert.Equal(1, await a.TryClaimAsync("nightly-2026-11-26", "nightly", Utc(26, 2), default));
        Assert.Null(await b.TryClaimAsync("nightly-2026-11-26", "nightly", Utc(26, 2), default));
        await a.SetStateAsync("nightly-2026-11-26", 1, RunClaims.Cancelled, default);
        Assert.Equal(2, await b.TryClaimAsync("nightly-2026-11-26", "nightly", Utc(26, 2), default));
        Assert.Equal("worker-b", (await b.GetClaimAsync("nightly-2026-11-26", 2, default))!.Worker);
        await b.SetStateAsync("nightly-2026-11-26", 2, RunClaims.Finished, default);
        Assert.Null(await a.TryClaimAsync("nightly-2026-11-26", "nightly", Utc(26, 2), default));
    }

    [Fact]
    public async Task Concurrent_claims_of_one_run_id_have_a_single_winner()
    {
        using var dir = new TempDir();
        var docs = new FileDocumentStore(dir.Path);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => new RunClaims(docs, $"w{i}").TryClaimAsync("nightly-2026-11-26", "nightly", Utc(26, 2), default))));
        Assert.Single(results, r => r == 1);
        Assert.Equal(7, results.Count(r => r is null));
    }
}

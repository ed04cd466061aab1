using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Scheduling;

/// <summary>
/// Fires every configured schedule at its cron occurrences. Policies:
/// <list type="bullet">
/// <item>Overlap: an occurrence that comes while the schedule's previous run is still going is skipped (logged).</item>
/// <item>Missed runs: at start-up, the most recent occurrence within the schedule's CatchUp window is run once; never a
///   backlog (<see cref="Schedule.MissedOccurrence"/>).</item>
/// <item>Duplicates: run ids derive from the occurrence and are claimed create-only (<see cref="RunClaims"/>), so two
///   workers or a restart never start one occurrence twice.</item>
/// <item>Shutdown: the stopping token cancels the running pipeline, which checkpoints; the claim stays resumable.</item>
/// </list>
/// </summary>
public sealed class ScheduleService(IReadOnlyList<Schedule> schedules, ScheduledRunner runner, TimeProvider time, ILogger<ScheduleService> logger)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(schedules.Where(s => s.Options.Enabled).Select(s => Task.Run(() => LoopAsync(s, stoppingToken), CancellationToken.None)));

    private async Task LoopAsync(Schedule schedule, CancellationToken stop)
    {
        Task? running = null;
        var cursor = time.GetUtcNow();
        if (schedule.MissedOccurrence(cursor) is { } missed)
        {
            logger.LogInformation("schedule {Schedule}: catching up the missed occurrence {Occurrence:O}", schedule.Name, missed);
            running = Fire(schedule, missed, stop);
        }
        while (!stop.IsCancellationRequested)
        {
            if (schedule.NextAfter(cursor) is not { } next)
            {
                logger.LogInformation("schedule {Schedule}: no further occurrences", schedule.Name);
                break;
            }
            logger.LogDebug("schedule {Schedule}: next occurrence {Occurrence:O} ({Run})", schedule.Name, next, schedule.RunId(next));
            try
            {
                // Task.Delay cannot wait longer than ~49 days; wait in slices of at most a day.
                for (var wait = next - time.GetUtcNow(); wait > TimeSpan.Zero; wait = next - time.GetUtcNow())
                    await Task.Delay(wait < TimeSpan.FromDays(1) ? wait : TimeSpan.FromDays(1), time, stop);
            }
            catch (OperationCanceledException) { break; }
            cursor = next;
            if (running is { IsCompleted: false })
            {
                logger.LogWarning("schedule {Schedule}: skipping {Run}: the previous run is still going", schedule.Name, schedule.RunId(next));
                continue;
            }
            running = Fire(schedule, next, stop);
        }
        if (running is not null) await running;
    }

    private Task Fire(Schedule schedule, DateTimeOffset occurrence, CancellationToken stop) => Task.Run(async () =>
    {
        try { await runner.RunOccurrenceAsync(schedule, occurrence, stop); }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        catch (Exception e) { logger.LogError(e, "schedule {Schedule}: occurrence {Occurrence:O} failed to run", schedule.Name, occurrence); }
    }, CancellationToken.None);
}

using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Scheduling;

/// <summary>
/// Runs one occurrence of a schedule end to end: claim the run id, run the pipeline, compare to the baseline, record
/// the status and notify. Every step after the claim is recorded, so a failure is never silent.
/// </summary>
public sealed class ScheduledRunner(
    RunClaims claims, IRunLauncher launcher, RegressionReporter reporter, IRunStatusWriter status,
    WebhookNotifier notifier, ILogger<ScheduledRunner> logger)
{
    /// <summary>The final status of the occurrence ("passed", "regressed", "incomparable", "succeeded", "failed",
    /// "cancelled"), or null when the run id was already claimed.</summary>
    public async Task<string?> RunOccurrenceAsync(Schedule schedule, DateTimeOffset occurrence, CancellationToken ct)
    {
        var runId = schedule.RunId(occurrence);
        var attempt = await claims.TryClaimAsync(runId, schedule.Name, occurrence, ct);
        if (attempt is null)
        {
            logger.LogInformation("schedule {Schedule}: run {Run} was already started; not starting it again", schedule.Name, runId);
            return null;
        }
        logger.LogInformation("schedule {Schedule}: starting run {Run} (attempt {Attempt}) of {Pipeline}", schedule.Name, runId, attempt, schedule.Options.Pipeline);

        RunOutcome outcome;
        try
        {
            outcome = await launcher.RunAsync(new RunRequest(runId, schedule.Options.Pipeline, schedule.Options.Overrides, schedule.Options.Profile), ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = new RunOutcome(runId, RunState.Cancelled, "the worker is shutting down");
        }
        catch (Exception e)
        {
            outcome = new RunOutcome(runId, RunState.Failed, e.Message);
        }

        // Shutdown: leave the claim resumable and record nothing else; the next start resumes within the catch-up window.
        if (outcome.State == RunState.Cancelled)
        {
            await claims.SetStateAsync(runId, attempt.Value, RunClaims.Cancelled, CancellationToken.None);
            logger.LogWarning("schedule {Schedule}: run {Run} cancelled ({Why}); it resumes on the next start", schedule.Name, runId, outcome.Error);
            return "cancelled";
        }
        // The run is over: record it even when a shutdown begins now (these writes are quick).
        var record = CancellationToken.None;
        await claims.SetStateAsync(runId, attempt.Value, RunClaims.Finished, record);

        string final;
        RegressionReport? report = null;
        string text;
        if (outcome.State == RunState.Failed)
        {
            final = "failed";
            text = $"{runId}: FAILED: {outcome.Error}";
            await status.SetStatusAsync(runId, final, outcome.Error ?? "failed", record);
        }
        else if (schedule.BaselineName is { } baseline)
        {
            report = await reporter.CheckAsync(runId, baseline, record);
            final = report.Verdict.ToString().ToLowerInvariant();
            text = report.Summary;
        }
        else
        {
            final = "succeeded";
            text = $"{runId}: succeeded (no regression check configured)";
            await status.SetStatusAsync(runId, final, text, record);
        }
        if (final is "passed" or "succeeded") logger.LogInformation("schedule {Schedule}: {Text}", schedule.Name, text);
        else logger.LogError("schedule {Schedule}: {Text}", schedule.Name, text);

        if (notifier.Enabled) await notifier.PostAsync(new RunNotification(runId, schedule.Name, final, text, report), ct);
        return final;
    }
}

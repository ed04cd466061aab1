namespace Fusion.Worker.Scheduling;

/// <summary>
/// One schedule from configuration (<c>Worker:Schedules:&lt;name&gt;</c>): when to start which pipeline with which
/// overrides, and what to compare the result to.
/// </summary>
public sealed class ScheduleOptions
{
    /// <summary>Cron expression, 5 fields (minute precision) or 6 fields (with seconds first), e.g. "0 2 * * *".</summary>
    public string Cron { get; set; } = "";

    /// <summary>IANA (or Windows) time-zone id the cron expression is read in, e.g. "Europe/Berlin". Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>The pipeline file to run, e.g. "pipelines/nightly.yaml".</summary>
    public string Pipeline { get; set; } = "";

    /// <summary>Pipeline profile (e.g. "nightly"), as with <c>fusion run --profile</c>; optional.</summary>
    public string? Profile { get; set; }

    /// <summary>Pipeline overrides (key → value), as with <c>fusion run -s key=value</c>.</summary>
    public Dictionary<string, string> Overrides { get; set; } = [];

    /// <summary>
    /// Missed-run window: at start-up the most recent occurrence that fell within this window before now is run once
    /// (unless that run id was already claimed). Zero (the default) never catches up. Older occurrences are never run.
    /// </summary>
    public TimeSpan CatchUp { get; set; } = TimeSpan.Zero;

    /// <summary>Baseline compared after each run; default the schedule's name. Empty string: no regression check.</summary>
    public string? Baseline { get; set; }

    /// <summary>.NET date format of the run id's occurrence part; default the coarsest of yyyy-MM-dd, yyyy-MM-dd-HHmm,
    /// yyyy-MM-dd-HHmmss that keeps the schedule's occurrences apart.</summary>
    public string? RunIdFormat { get; set; }

    public bool Enabled { get; set; } = true;
}

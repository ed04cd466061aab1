using Fusion.Worker.Distributed;
using Fusion.Worker.Regression;
using Fusion.Worker.Scheduling;

namespace Fusion.Worker.Hosting;

/// <summary>The <c>Worker</c> configuration section (appsettings.json, environment variables <c>Worker__…</c>, command line <c>--Worker:…=</c>).</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Schedules by name; the name starts each run id ("nightly" → "nightly-2026-11-26").</summary>
    public Dictionary<string, ScheduleOptions> Schedules { get; set; } = [];

    public RegressionOptions Regression { get; set; } = new();

    public DistributedOptions Distributed { get; set; } = new();

    /// <summary>Folder for the worker's documents (claims, baselines, reports) when no artifact store is registered.</summary>
    public string? Documents { get; set; }

    /// <summary>How long a shutdown (SIGTERM) waits for the running node to checkpoint before the process exits.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Name of this worker in claims and results; default machine-pid.</summary>
    public string? WorkerId { get; set; }

    public string ResolvedWorkerId => WorkerId ?? $"{Environment.MachineName}-{Environment.ProcessId}";
}

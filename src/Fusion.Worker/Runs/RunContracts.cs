namespace Fusion.Worker.Runs;

/// <summary>One metric of a run: its value and unit (e.g. 12.3 "FID", 0.31 "CLIP score", 85.0 "img/s").</summary>
public sealed record MetricValue(double Value, string Unit);

/// <summary>What a schedule asks for: a pipeline file, its profile and overrides (key → value), and the run id to use.</summary>
public sealed record RunRequest(string RunId, string PipelinePath, IReadOnlyDictionary<string, string> Overrides, string? Profile = null);

public enum RunState { Succeeded, Failed, Cancelled }

/// <summary>How a run ended. <see cref="Error"/> is set when it did not succeed.</summary>
public sealed record RunOutcome(string RunId, RunState State, string? Error = null);

/// <summary>
/// Starts one pipeline run and waits for it (the in-process engine, or the distributed client). Must be idempotent
/// per run id: starting a run id that already finished returns that run's outcome instead of computing it again.
/// </summary>
public interface IRunLauncher
{
    Task<RunOutcome> RunAsync(RunRequest request, CancellationToken ct);
}

/// <summary>The metrics table of a run, as metric name → value and unit, and the pipeline it ran. Null when the run is unknown.</summary>
public interface IRunMetricsSource
{
    Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct);

    /// <summary>What makes two runs' metrics comparable: the pipeline and its profile (e.g. "nightly" or
    /// "shapes --profile tiny"), not its overrides, so runs that differ only in a seed compare.</summary>
    Task<string?> GetPipelineAsync(string runId, CancellationToken ct);
}

/// <summary>Records the verdict of a finished run where users look for it (the run ledger).</summary>
public interface IRunStatusWriter
{
    Task SetStatusAsync(string runId, string status, string detail, CancellationToken ct);
}

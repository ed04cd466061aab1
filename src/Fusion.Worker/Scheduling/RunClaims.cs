using Fusion.Worker.Documents;

namespace Fusion.Worker.Scheduling;

/// <summary>Who started a scheduled run, when, and for which occurrence (the create-only claim document).</summary>
public sealed record RunClaim(string RunId, string Schedule, DateTimeOffset Occurrence, int Attempt, string Worker, DateTimeOffset ClaimedUtc);

/// <summary>Where a claimed run stands: running, finished, or cancelled by a worker shutdown (then resumable).</summary>
public sealed record RunClaimState(string RunId, int Attempt, string State, DateTimeOffset UpdatedUtc);

/// <summary>
/// Makes "a schedule cannot start the same run twice" hold across restarts and across workers: each attempt of a run id
/// is a create-only document (<c>worker/runs/&lt;run&gt;/attempt-&lt;k&gt;.json</c>). Attempt 1 is claimed once; a further
/// attempt only when the previous one was cancelled by a graceful shutdown (the engine then resumes the run). A run
/// whose worker died without a word stays claimed: resume it by hand (<c>fusion run … --run-id RUN</c>).
/// </summary>
public sealed class RunClaims(IDocumentStore documents, string workerId)
{
    public const string Cancelled = "cancelled", Running = "running", Finished = "finished";

    public static string Folder(string runId) => $"worker/runs/{runId}";

    /// <summary>The attempt number now owned by this worker, or null when the run id is taken.</summary>
    public async Task<int?> TryClaimAsync(string runId, string schedule, DateTimeOffset occurrence, CancellationToken ct)
    {
        var state = await GetStateAsync(runId, ct);
        if (state is not null && state.State != Cancelled) return null;
        var attempt = (state?.Attempt ?? 0) + 1;
        var claim = new RunClaim(runId, schedule, occurrence, attempt, workerId, DateTimeOffset.UtcNow);
        if (!await documents.TryCreateAsync($"{Folder(runId)}/attempt-{attempt}.json", WorkerJson.Serialize(claim), ct)) return null;
        await SetStateAsync(runId, attempt, Running, ct);
        return attempt;
    }

    public Task<RunClaimState?> GetStateAsync(string runId, CancellationToken ct) =>
        documents.GetAsync<RunClaimState>($"{Folder(runId)}/state.json", ct);

    public Task<RunClaim?> GetClaimAsync(string runId, int attempt, CancellationToken ct) =>
        documents.GetAsync<RunClaim>($"{Folder(runId)}/attempt-{attempt}.json", ct);

    public Task SetStateAsync(string runId, int attempt, string state, CancellationToken ct) =>
        documents.PutAsync($"{Folder(runId)}/state.json", WorkerJson.Serialize(new RunClaimState(runId, attempt, state, DateTimeOffset.UtcNow)), ct);
}

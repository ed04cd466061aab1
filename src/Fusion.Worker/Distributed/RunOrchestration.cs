using DurableTask.Core;
using DurableTask.Core.Exceptions;

namespace Fusion.Worker.Distributed;

/// <summary>The orchestration's input: the DAG and how often a failing node is retried.</summary>
public sealed record DistributedRun(DagSpec Dag, int MaxAttempts, TimeSpan FirstRetryDelay);

/// <summary>The outcome: results of the nodes that completed, errors of those that failed, and those never started
/// because a dependency failed.</summary>
public sealed record RunResult(string RunId, List<NodeResult> Completed, Dictionary<string, string> Failed, List<string> Blocked)
{
    public bool Succeeded => Failed.Count == 0 && Blocked.Count == 0;
}

/// <summary>
/// One orchestration per run: starts every node whose dependencies are done as an activity (so independent nodes —
/// variants, sampling shards — fan out across all workers of the hub), and keeps going past a failed node with the
/// nodes that do not need it. Deterministic on replay: decisions depend only on activity results, in DAG order.
/// </summary>
public sealed class RunOrchestration : TaskOrchestration<RunResult, DistributedRun>
{
    private string progress = "starting";

    /// <summary>Progress as the orchestration's custom status (for `fusion status`).</summary>
    public override string OnGetStatus() => progress;

    public override Task<RunResult> RunTask(OrchestrationContext context, DistributedRun input)
    {
        var retry = new RetryOptions(input.FirstRetryDelay, input.MaxAttempts) { BackoffCoefficient = 2 };
        return new DagWalk(input.Dag).RunAsync(
            item => context.ScheduleWithRetry<NodeResult>(typeof(NodeActivity), retry, item),
            e => e is TaskFailedException,
            (done, running, failed) => progress = $"{done}/{input.Dag.Nodes.Length} done, {running} running, {failed} failed");
    }
}

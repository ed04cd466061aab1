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

    public override async Task<RunResult> RunTask(OrchestrationContext context, DistributedRun input)
    {
        var dag = input.Dag;
        var walk = new DagWalk(dag);
        var retry = new RetryOptions(input.FirstRetryDelay, input.MaxAttempts) { BackoffCoefficient = 2 };
        var done = new HashSet<string>(StringComparer.Ordinal);
        var results = new Dictionary<string, NodeResult>(StringComparer.Ordinal);
        var failed = new Dictionary<string, string>(StringComparer.Ordinal);
        var running = new List<(string Id, Task<NodeResult> Task)>();

        void StartReady()
        {
            foreach (var node in walk.Ready(done, [.. running.Select(r => r.Id), .. failed.Keys]))
            {
                var inputs = node.DependsOn.ToDictionary(d => d, d => results[d], StringComparer.Ordinal);
                var item = new NodeWorkItem(dag.RunId, node.Id, node.Fingerprint, inputs, node.Payload);
                running.Add((node.Id, context.ScheduleWithRetry<NodeResult>(typeof(NodeActivity), retry, item)));
            }
            progress = $"{done.Count}/{dag.Nodes.Length} done, {running.Count} running, {failed.Count} failed";
        }

        StartReady();
        while (running.Count > 0)
        {
            var finished = await Task.WhenAny(running.Select(r => r.Task));
            var entry = running.First(r => r.Task == finished);
            running.Remove(entry);
            try
            {
                results[entry.Id] = await finished;
                done.Add(entry.Id);
            }
            catch (TaskFailedException e)
            {
                failed[entry.Id] = e.Message;
            }
            StartReady();
        }
        var blocked = walk.Blocked(failed.Keys.ToHashSet(StringComparer.Ordinal)).ToList();
        var completed = dag.Nodes.Where(n => results.ContainsKey(n.Id)).Select(n => results[n.Id]).ToList();
        return new RunResult(dag.RunId, completed, failed, blocked);
    }
}

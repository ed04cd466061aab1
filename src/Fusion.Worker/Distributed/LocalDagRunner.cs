namespace Fusion.Worker.Distributed;

/// <summary>
/// Walks a DAG in this process with the same executor and the same readiness rule as <see cref="RunOrchestration"/>
/// (independent nodes concurrently): the reference the distributed executor must agree with.
/// </summary>
public static class LocalDagRunner
{
    public static async Task<RunResult> RunAsync(DagSpec dag, INodeExecutor executor, string workerId, CancellationToken ct)
    {
        dag.Validate();
        var walk = new DagWalk(dag);
        var done = new HashSet<string>(StringComparer.Ordinal);
        var results = new Dictionary<string, NodeResult>(StringComparer.Ordinal);
        var failed = new Dictionary<string, string>(StringComparer.Ordinal);
        var running = new List<(string Id, Task<NodeResult> Task)>();
        void StartReady()
        {
            foreach (var node in walk.Ready(done, [.. running.Select(r => r.Id), .. failed.Keys]))
            {
                var item = new NodeWorkItem(dag.RunId, node.Id, node.Fingerprint, node.DependsOn.ToDictionary(d => d, d => results[d], StringComparer.Ordinal), node.Payload);
                running.Add((node.Id, Task.Run(async () =>
                {
                    var run = await executor.ExecuteAsync(item, ct);
                    return new NodeResult(node.Id, node.Fingerprint, run.Output, run.Reused, workerId);
                }, ct)));
            }
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
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed[entry.Id] = e.Message;
            }
            StartReady();
        }
        return new RunResult(dag.RunId, dag.Nodes.Where(n => results.ContainsKey(n.Id)).Select(n => results[n.Id]).ToList(),
            failed, walk.Blocked(failed.Keys.ToHashSet(StringComparer.Ordinal)).ToList());
    }
}

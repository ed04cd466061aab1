namespace Fusion.Worker.Distributed;

/// <summary>
/// Walks a DAG in this process with <see cref="DagWalk.RunAsync"/>, as <see cref="RunOrchestration"/> does on the hub
/// (independent nodes concurrently): the reference the distributed executor must agree with.
/// </summary>
public static class LocalDagRunner
{
    public static Task<RunResult> RunAsync(DagSpec dag, INodeExecutor executor, string workerId, CancellationToken ct)
    {
        dag.Validate();
        return new DagWalk(dag).RunAsync(item => Task.Run(async () =>
        {
            var run = await executor.ExecuteAsync(item, ct);
            return new NodeResult(item.NodeId, item.Fingerprint, run.Output, run.Reused, workerId, run.Device);
        }, ct), e => e is not OperationCanceledException);
    }
}

using System.Security.Cryptography;
using System.Text;
using Fusion.Workflow.Pipelines;

namespace Fusion.Worker.Distributed;

/// <summary>
/// One node of a run's DAG: its id, the fingerprint of what it computes, the nodes it needs first, and an opaque
/// <see cref="Payload"/> the worker's executor understands (the engine ships the fingerprinted node definition as JSON).
/// </summary>
public sealed record DagNode(string Id, string Fingerprint, string[] DependsOn, string? Payload = null);

/// <summary>
/// A run's resolved DAG as the distributed executor needs it. The engine resolves pipelines into this (ids, fingerprints,
/// edges); what a node does is looked up by the worker's <see cref="INodeExecutor"/> from the run id and node id.
/// </summary>
public sealed record DagSpec(string RunId, DagNode[] Nodes)
{
    /// <summary>Throws naming the culprit when ids repeat, a dependency is unknown, or the graph has a cycle.</summary>
    public DagSpec Validate()
    {
        if (string.IsNullOrWhiteSpace(RunId)) throw new ArgumentException("DAG has an empty run id");
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in Nodes)
            if (!ids.Add(n.Id)) throw new ArgumentException($"run {RunId}: node id '{n.Id}' appears twice");
        foreach (var n in Nodes)
            foreach (var d in n.DependsOn)
                if (!ids.Contains(d)) throw new ArgumentException($"run {RunId}: node '{n.Id}' depends on unknown node '{d}'");
        if (DagOrder.Sort(Nodes, n => n.Id, n => n.DependsOn).Cycle is { } cycle)
            throw new ArgumentException($"run {RunId}: the DAG has a cycle through {string.Join(", ", cycle.Distinct())}");
        return this;
    }

    /// <summary>SHA-256 over the run id, node ids, fingerprints and edges: the same run of the same DAG has the same digest.</summary>
    public string Digest()
    {
        var sb = new StringBuilder(RunId).Append('\n');
        foreach (var n in Nodes.OrderBy(n => n.Id, StringComparer.Ordinal))
            sb.Append(n.Id).Append('\t').Append(n.Fingerprint).Append('\t').AppendJoin(',', n.DependsOn.Order(StringComparer.Ordinal)).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }
}

/// <summary>
/// The walk over a DAG that both executors share: which nodes can start now (not done, not running, not blocked by a
/// failure, all dependencies done), which are blocked, and the walk itself.
/// </summary>
public sealed class DagWalk(DagSpec dag)
{
    public IReadOnlyList<DagNode> Ready(IReadOnlySet<string> done, IReadOnlyCollection<string> startedOrFailed) =>
        dag.Nodes.Where(n => !done.Contains(n.Id) && !startedOrFailed.Contains(n.Id) && n.DependsOn.All(done.Contains)).ToList();

    /// <summary>Nodes that can never run because a node they (transitively) need failed.</summary>
    public IReadOnlyList<string> Blocked(IReadOnlySet<string> failed)
    {
        var blocked = new HashSet<string>(failed, StringComparer.Ordinal);
        bool grew;
        do
        {
            grew = false;
            foreach (var n in dag.Nodes)
                if (!blocked.Contains(n.Id) && n.DependsOn.Any(blocked.Contains)) grew = blocked.Add(n.Id) | grew;
        } while (grew);
        return dag.Nodes.Select(n => n.Id).Where(id => blocked.Contains(id) && !failed.Contains(id)).ToList();
    }

    /// <summary>
    /// Runs the DAG: starts every node whose dependencies are done (independent nodes concurrently), keeps going past a
    /// failed node with the nodes that do not need it, and returns what completed, failed and was blocked. Decisions
    /// depend only on node results, in DAG order, so a Durable Task orchestration can replay it.
    /// </summary>
    /// <param name="start">Starts one node: an activity of the orchestration, or a task in this process.</param>
    /// <param name="isFailure">The exceptions that are a node's failure (any other ends the walk).</param>
    /// <param name="progress">Told (done, running, failed) after every decision.</param>
    public async Task<RunResult> RunAsync(Func<NodeWorkItem, Task<NodeResult>> start, Func<Exception, bool> isFailure, Action<int, int, int>? progress = null)
    {
        var done = new HashSet<string>(StringComparer.Ordinal);
        var results = new Dictionary<string, NodeResult>(StringComparer.Ordinal);
        var failed = new Dictionary<string, string>(StringComparer.Ordinal);
        var running = new List<(string Id, Task<NodeResult> Task)>();
        void StartReady()
        {
            foreach (var node in Ready(done, [.. running.Select(r => r.Id), .. failed.Keys]))
            {
                var inputs = node.DependsOn.ToDictionary(d => d, d => results[d], StringComparer.Ordinal);
                running.Add((node.Id, start(new NodeWorkItem(dag.RunId, node.Id, node.Fingerprint, inputs, node.Payload))));
            }
            progress?.Invoke(done.Count, running.Count, failed.Count);
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
            catch (Exception e) when (isFailure(e))
            {
                failed[entry.Id] = e.Message;
            }
            StartReady();
        }
        return new RunResult(dag.RunId, dag.Nodes.Where(n => results.ContainsKey(n.Id)).Select(n => results[n.Id]).ToList(),
            failed, Blocked(failed.Keys.ToHashSet(StringComparer.Ordinal)).ToList());
    }
}

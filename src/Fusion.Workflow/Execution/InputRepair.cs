using System.Collections.Concurrent;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Workflow.Execution;

/// <summary>
/// Runs the nodes of one run so that none computes from a damaged input: when a node fails on an input file whose bytes
/// differ from its manifest (<see cref="DamagedInputException"/>), the upstream node that wrote it is recomputed, its
/// output checked as `run --verify` checks it, and the node runs again. An upstream is recomputed once per run however
/// many nodes find it damaged (through the same steps, so a damaged input of its own is recomputed first). A node that
/// fails while one of its inputs is being recomputed (its files replaced under it) runs again once that is done. A node
/// runs again at most once per input: bytes that are damaged again after their repair fail it.
/// <paramref name="repaired"/> hears every repair's outcome, for the run's ledger.
/// </summary>
public sealed class InputRepair(NodeRunner runner, IReadOnlyDictionary<string, PlannedNode> nodes, string pipeline, Func<NodeOutcome, Task> repaired, ILogger log)
{
    /// <summary>A recomputation of node <paramref name="NodeId"/> for a damaged output, started by the first node to find it.</summary>
    private sealed record Repair(string NodeId, Lazy<Task<NodeOutcome>> Run)
    {
        public bool Done => Run.IsValueCreated && Run.Value.IsCompleted;
    }

    private readonly ConcurrentDictionary<string, Repair> repairs = new(StringComparer.Ordinal);

    public async Task<NodeOutcome> RunAsync(PlannedNode node, NodeRunOptions options, CancellationToken ct)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var doneBefore = Inputs(node).Where(fp => repairs.TryGetValue(fp, out var r) && r.Done).ToHashSet(StringComparer.Ordinal);
            var outcome = await runner.RunAsync(node, options, ct);
            if (outcome.State != NodeState.Failed) return outcome;
            string again;
            if (DamagedInputException.In(outcome.Exception) is { } damaged && nodes.TryGetValue(damaged.NodeId, out var upstream)
                && upstream.Fingerprint == damaged.Fingerprint && tried.Add(damaged.Fingerprint))
            {
                var repair = await RepairAsync(upstream, damaged, node, ct);
                if (repair.State is not (NodeState.Ran or NodeState.Cached))
                    return outcome with { Error = $"{outcome.Error}; recomputing {upstream.Id} ended {repair.State.ToString().ToLowerInvariant()}: {repair.Error}" };
                again = $"again, after {upstream.Id} was recomputed for its damaged '{damaged.FileName}'";
            }
            else if (Inputs(node).Where(fp => !doneBefore.Contains(fp) && repairs.ContainsKey(fp)).FirstOrDefault(tried.Add) is { } fp)
            {
                var (id, run) = repairs[fp];
                if ((await run.Value).State is not (NodeState.Ran or NodeState.Cached)) return outcome;
                again = $"again, since {id} was recomputed while it ran";
            }
            else return outcome;
            options = options with { Reasons = [.. options.Reasons ?? [], again] };
        }
    }

    private static IEnumerable<string> Inputs(PlannedNode node) => node.InputFingerprints.Values.SelectMany(list => list);

    private Task<NodeOutcome> RepairAsync(PlannedNode upstream, DamagedInputException damaged, PlannedNode finder, CancellationToken ct) =>
        repairs.GetOrAdd(upstream.Fingerprint, _ => new Repair(upstream.Id, new Lazy<Task<NodeOutcome>>(async () =>
        {
            log.LogWarning("{Node}: recomputing {Upstream}, whose file '{File}' is damaged", finder.Id, upstream.Id, damaged.FileName);
            var reasons = new[] { $"its committed file '{damaged.FileName}' is damaged (found reading it for {finder.Id})" };
            var outcome = await RunAsync(upstream, new NodeRunOptions(pipeline, Verify: true, Reasons: reasons), ct);
            await repaired(outcome);
            return outcome;
        }))).Run.Value;
}

using System.Collections.Concurrent;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Workflow.Execution;

/// <summary>
/// Runs the nodes of one run so that none computes from a damaged input: when a node fails on an input file whose bytes
/// differ from its manifest (<see cref="DamagedInputException"/>), the upstream node that wrote it is recomputed, its
/// output checked as `run --verify` checks it, and the node runs again. An upstream is recomputed once per run however
/// many nodes find it damaged (through the same steps, so a damaged input of its own is recomputed first), and a node
/// runs again once per damaged input: bytes that are damaged again after their repair fail the node.
/// <paramref name="repaired"/> hears every repair's outcome, for the run's ledger.
/// </summary>
public sealed class InputRepair(NodeRunner runner, IReadOnlyDictionary<string, PlannedNode> nodes, string pipeline, Func<NodeOutcome, Task> repaired, ILogger log)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<NodeOutcome>>> repairs = new(StringComparer.Ordinal);

    public async Task<NodeOutcome> RunAsync(PlannedNode node, NodeRunOptions options, CancellationToken ct)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var outcome = await runner.RunAsync(node, options, ct);
            if (outcome.State != NodeState.Failed || DamagedInputException.In(outcome.Exception) is not { } damaged
                || !nodes.TryGetValue(damaged.NodeId, out var upstream) || upstream.Fingerprint != damaged.Fingerprint || !tried.Add(damaged.Fingerprint))
                return outcome;
            var repair = await RepairAsync(upstream, damaged, node, ct);
            if (repair.State is not (NodeState.Ran or NodeState.Cached))
                return outcome with { Error = $"{outcome.Error}; recomputing {upstream.Id} ended {repair.State.ToString().ToLowerInvariant()}: {repair.Error}" };
            options = options with { Reasons = [.. options.Reasons ?? [], $"again, after {upstream.Id} was recomputed for its damaged '{damaged.FileName}'"] };
        }
    }

    private Task<NodeOutcome> RepairAsync(PlannedNode upstream, DamagedInputException damaged, PlannedNode finder, CancellationToken ct) =>
        repairs.GetOrAdd(upstream.Fingerprint, _ => new Lazy<Task<NodeOutcome>>(async () =>
        {
            log.LogWarning("{Node}: recomputing {Upstream}, whose file '{File}' is damaged", finder.Id, upstream.Id, damaged.FileName);
            var reasons = new[] { $"its committed file '{damaged.FileName}' is damaged (found reading it for {finder.Id})" };
            var outcome = await RunAsync(upstream, new NodeRunOptions(pipeline, Verify: true, Reasons: reasons), ct);
            await repaired(outcome);
            return outcome;
        })).Value;
}

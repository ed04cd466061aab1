using Fusion.Artifacts.Store;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;

namespace Fusion.Workflow.Execution;

public enum PlanStatus { Cached, WillRun, Stale, Forced }

/// <summary>The decision for one node and why.</summary>
public sealed record PlanEntry(PlannedNode Node, PlanStatus Status, IReadOnlyList<string> Reasons)
{
    public string Describe() => Status switch
    {
        PlanStatus.Cached => "cached",
        PlanStatus.WillRun => "will run",
        PlanStatus.Stale => "stale",
        _ => "forced",
    };
}

/// <summary>
/// Dry run: for every node, cached (a committed output with its fingerprint exists) / will run (never ran, or its
/// output is gone or broken) / stale (it ran before with another fingerprint: the reasons say which part changed) /
/// forced.
/// </summary>
public static class Planner
{
    public static async Task<IReadOnlyList<PlanEntry>> PlanAsync(IArtifactStore store, Pipeline pipeline, IReadOnlyDictionary<string, PlannedNode> nodes,
        IReadOnlySet<string> selected, IReadOnlySet<string> forced, bool verify = false, CancellationToken ct = default)
    {
        var documents = new EngineDocuments(store);
        var plan = new List<PlanEntry>();
        foreach (var definition in pipeline.Nodes.Where(n => selected.Contains(n.Id)))
        {
            var node = nodes[definition.Id];
            if (forced.Contains(node.Id)) { plan.Add(new PlanEntry(node, PlanStatus.Forced, ["forced (--force)"])); continue; }
            var lookup = await store.GetManifestAsync(node.Fingerprint, verify, ct);
            if (lookup.Found) { plan.Add(new PlanEntry(node, PlanStatus.Cached, [])); continue; }
            var read = await documents.ReadIndexAsync(pipeline.Name, node.Id, ct);
            var index = read.Value;
            if (lookup.Problem is not null) plan.Add(new PlanEntry(node, PlanStatus.WillRun, [$"committed output is broken: {lookup.Problem}"]));
            else if (read.Error is { } unreadable) plan.Add(new PlanEntry(node, PlanStatus.WillRun, [$"no committed output; its node index {unreadable.Message}, so what changed is unknown (the index is rewritten when the node commits)"]));
            else if (index is null) plan.Add(new PlanEntry(node, PlanStatus.WillRun, ["never ran"]));
            else if (index.Fingerprint == node.Fingerprint) plan.Add(new PlanEntry(node, PlanStatus.WillRun, ["its committed output is gone (deleted or collected)"]));
            else
            {
                var reasons = Fingerprinter.Explain(index.Parts, node);
                plan.Add(new PlanEntry(node, PlanStatus.Stale, reasons.Count > 0 ? reasons : ["fingerprint scheme changed"]));
            }
        }
        return plan;
    }
}

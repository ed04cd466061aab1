using Fusion.Workflow.Fingerprints;

namespace Fusion.Workflow.Execution;

/// <summary>Hears what the executor does (the CLI draws progress bars from it). Calls may come from several threads.</summary>
public interface IRunObserver
{
    void NodeWaiting(PlannedNode node, string why) { }
    /// <summary>The node holds device slot <paramref name="device"/> (cuda:3, cpu:1) for its run; comes before NodeStarted.</summary>
    void NodePlaced(PlannedNode node, string device) { }
    /// <summary>The node's durable scratch folder (where it checkpoints, and where training writes its live curves); before NodeStarted.</summary>
    void NodeScratch(PlannedNode node, string scratchDirectory) { }
    void NodeStarted(PlannedNode node, IReadOnlyList<string> reasons) { }
    void NodeProgress(PlannedNode node, long current, long total, string unit) { }
    void NodeFinished(PlannedNode node, NodeOutcome outcome) { }
}

public sealed class NullRunObserver : IRunObserver
{
    public static readonly NullRunObserver Instance = new();
}

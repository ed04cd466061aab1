using Fusion.Workflow.Fingerprints;

namespace Fusion.Workflow.Execution;

/// <summary>Hears what the executor does (the CLI draws progress bars from it). Calls may come from several threads.</summary>
public interface IRunObserver
{
    void NodeWaiting(PlannedNode node, string why) { }
    void NodeStarted(PlannedNode node, IReadOnlyList<string> reasons) { }
    void NodeProgress(PlannedNode node, long current, long total, string unit) { }
    void NodeFinished(PlannedNode node, NodeOutcome outcome) { }
}

public sealed class NullRunObserver : IRunObserver
{
    public static readonly NullRunObserver Instance = new();
}

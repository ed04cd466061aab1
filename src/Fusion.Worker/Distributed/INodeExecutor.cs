namespace Fusion.Worker.Distributed;

/// <summary>What an activity gets: the node to run and the results of the nodes it depends on.</summary>
public sealed record NodeWorkItem(string RunId, string NodeId, string Fingerprint, Dictionary<string, NodeResult> Inputs, string? Payload = null);

/// <summary>
/// What a node produced. <see cref="Output"/> is the executor's short description of the committed artifact (e.g. its
/// manifest digest); <see cref="Reused"/> is true when the node was already committed (a duplicate delivery, or a
/// cache hit) and nothing was recomputed. <see cref="Worker"/> names the process that ran it, <see cref="Device"/> the
/// device slot it ran on there (null: no torch, or no device pool).
/// </summary>
public sealed record NodeResult(string NodeId, string Fingerprint, string Output, bool Reused, string Worker, string? Device = null);

/// <summary>What the executor reports for one node; the activity adds the worker's id.</summary>
public sealed record NodeExecution(string Output, bool Reused, string? Device = null);

/// <summary>
/// Runs one node of a run on this machine, given its id (the engine's "run one node given its resolved definition and
/// the store" unit). Must be idempotent: delivery is at least once, so a node may run twice, even concurrently on two
/// workers; the store's node claim and create-only commit make the second one find the first one's result. On
/// cancellation (worker shutdown) it checkpoints and throws <see cref="OperationCanceledException"/>.
/// </summary>
public interface INodeExecutor
{
    Task<NodeExecution> ExecuteAsync(NodeWorkItem item, CancellationToken ct);
}

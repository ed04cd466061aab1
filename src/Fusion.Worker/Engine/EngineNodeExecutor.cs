using System.Text.Json;
using Fusion.Artifacts.Store;
using Fusion.Worker.Distributed;
using Fusion.Worker.Documents;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Engine;

/// <summary>
/// Runs a shipped engine node with the engine's <see cref="NodeRunner"/> against the shared store: a committed output
/// is reused, the fingerprint claim serialises duplicates, the commit is create-only. Before running, the worker
/// recomputes the fingerprint with its own stage code and environment facts and refuses a node it would compute
/// differently (a worker of another build or device must not commit under the client's fingerprint).
/// </summary>
public sealed class EngineNodeExecutor(IArtifactStore store, StageRegistry registry, IEnvironmentFactsProvider environment, ILoggerFactory loggers, DevicePool? devices = null) : INodeExecutor
{
    public async Task<NodeExecution> ExecuteAsync(NodeWorkItem item, CancellationToken ct)
    {
        var payload = item.Payload is { } json ? JsonSerializer.Deserialize<EngineNodePayload>(json, WorkerJson.Options) : null;
        if (payload?.Node is null) throw new InvalidOperationException($"node {item.NodeId} of run {item.RunId} carries no engine node definition");
        var node = payload.Node;
        if (node.Fingerprint != item.Fingerprint || node.Id != item.NodeId)
            throw new InvalidOperationException($"node {item.NodeId} of run {item.RunId}: its definition is for {node.Id} ({node.Short})");

        var facts = environment.GetFacts();
        var parts = Fingerprinter.Parts(registry.Get(node.Definition.Kind), node.Definition.Params, node.InputFingerprints, facts);
        if (Fingerprinter.Hash(parts) != node.Fingerprint)
        {
            var differ = parts.Keys.Union(node.Parts.Keys).Where(k => parts.GetValueOrDefault(k) != node.Parts.GetValueOrDefault(k))
                .Select(k => $"{k}: client '{node.Parts.GetValueOrDefault(k)}', worker '{parts.GetValueOrDefault(k)}'");
            throw new InvalidOperationException($"node {node.Id} of run {item.RunId}: this worker would compute it differently ({string.Join("; ", differ)}); " +
                "every worker of a pool needs the same code and environment as the client that fingerprinted the run");
        }

        var outcome = await new NodeRunner(store, registry, facts, loggers, devices: devices).RunAsync(node, new NodeRunOptions(payload.Pipeline), ct);
        return outcome.State switch
        {
            NodeState.Ran or NodeState.Cached => new NodeExecution(EngineDag.OutputOf(outcome.Manifest!), outcome.State == NodeState.Cached, outcome.Device),
            NodeState.Interrupted => throw new OperationCanceledException($"node {node.Id}: {outcome.Error}", ct),
            _ => throw new InvalidOperationException($"node {node.Id}: {outcome.State.ToString().ToLowerInvariant()}: {outcome.Error}"),
        };
    }
}

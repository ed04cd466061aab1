using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fusion.Artifacts.Store;
using Fusion.Worker.Distributed;
using Fusion.Worker.Documents;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;

namespace Fusion.Worker.Engine;

/// <summary>What travels to a worker for one engine node: the fingerprinted definition and its pipeline's name.</summary>
public sealed record EngineNodePayload(string Pipeline, PlannedNode Node);

/// <summary>Turns a fingerprinted pipeline into the distributed executor's DAG.</summary>
public static class EngineDag
{
    /// <summary>
    /// The DAG of <paramref name="selected"/> nodes (default all). Edges to unselected nodes are dropped: those inputs
    /// must already be committed, which the node runner checks.
    /// </summary>
    public static DagSpec From(string runId, Pipeline pipeline, IReadOnlyDictionary<string, PlannedNode> nodes, IReadOnlySet<string>? selected = null)
    {
        var ids = selected ?? pipeline.Nodes.Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var dagNodes = pipeline.Nodes.Where(n => ids.Contains(n.Id)).Select(n => new DagNode(
            n.Id, nodes[n.Id].Fingerprint, n.Upstream.Where(ids.Contains).ToArray(),
            JsonSerializer.Serialize(new EngineNodePayload(pipeline.Name, nodes[n.Id]), WorkerJson.Options))).ToArray();
        return new DagSpec(runId, dagNodes).Validate();
    }

    /// <summary>The identity of a committed artifact's content: SHA-256 over its files' names and SHA-256s.</summary>
    public static string OutputOf(Manifest manifest)
    {
        var text = string.Join('\n', manifest.Files.OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => $"{f.Name}:{f.Size}:{f.Sha256}"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}

using System.Text.Json.Serialization;
using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Execution;

public enum NodeState { Cached, Ran, Failed, Interrupted, Skipped }

public enum RunState { Running, Succeeded, Failed, Interrupted }

/// <summary>What happened to one node in one run.</summary>
public sealed record NodeOutcome(
    string NodeId,
    string Fingerprint,
    NodeState State,
    DateTimeOffset StartedUtc,
    TimeSpan Elapsed,
    string? Error = null,
    Manifest? Manifest = null,
    /// <summary>True when another process computed it while this one waited for the claim.</summary>
    bool ReusedFromConcurrentRun = false,
    /// <summary>Why it ran (plan reasons), empty when cached.</summary>
    IReadOnlyList<string>? Reasons = null,
    /// <summary>The device slot it ran on (cuda:3, cpu:1); null when it ran no torch or no pool placed it.</summary>
    string? Device = null,
    /// <summary>What a failed stage threw, so the command line can tell a full disk or a damaged input from a bug.</summary>
    Exception? Exception = null,
    /// <summary>True when it ran to replace a committed output that was broken (a file missing, resized or, when
    /// verified, of another SHA-256), or, under --verify, one built from such an output.</summary>
    bool Repaired = false);

/// <summary>The ledger entry of one node.</summary>
public sealed record NodeRecord(
    string NodeId,
    string Fingerprint,
    NodeState State,
    DateTimeOffset? StartedUtc,
    double Seconds,
    string? Error,
    IReadOnlyList<string>? Reasons,
    IReadOnlyDictionary<string, string>? Summary,
    /// <summary>The device slot the node ran on (cuda:3, cpu:1), or null.</summary>
    string? Device = null)
{
    public static NodeRecord From(NodeOutcome o) =>
        new(o.NodeId, o.Fingerprint, o.State, o.StartedUtc, o.Elapsed.TotalSeconds, o.Error, o.Reasons, o.Manifest?.Info.Summary, o.Device);
}

/// <summary>One `fusion run`: stored as the document runs/&lt;RunId&gt;.json and rewritten after every node.</summary>
public sealed record RunRecord
{
    public required string RunId { get; init; }
    public required string Pipeline { get; init; }
    public required string PipelineFile { get; init; }
    public string? Profile { get; init; }
    public IReadOnlyList<string> Overrides { get; init; } = [];
    public IReadOnlyList<string> Arguments { get; init; } = [];
    public required DateTimeOffset StartedUtc { get; init; }
    public DateTimeOffset? FinishedUtc { get; set; }
    public RunState State { get; set; } = RunState.Running;
    public string Host { get; init; } = Environment.MachineName;
    public int ProcessId { get; init; } = Environment.ProcessId;
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>();
    public List<NodeRecord> Nodes { get; init; } = [];

    /// <summary>What the failed nodes of this process's run threw, by node id (not stored: exceptions do not round-trip).</summary>
    [JsonIgnore]
    public Dictionary<string, Exception> Failures { get; init; } = new(StringComparer.Ordinal);

    public static string NewId() => $"{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}-{Random.Shared.Next(0x10000):x4}";
}

/// <summary>The last fingerprint of a node id in a pipeline, so `plan` can say what changed (document nodes/PIPELINE/ID.json).</summary>
public sealed record NodeIndexEntry(string NodeId, string Fingerprint, IReadOnlyDictionary<string, string> Parts, DateTimeOffset UpdatedUtc);

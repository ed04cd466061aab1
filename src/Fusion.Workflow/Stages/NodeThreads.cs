using System.Globalization;

namespace Fusion.Workflow.Stages;

/// <summary>
/// A node's CPU intra-op thread count. A stage kind may have an integer param <c>threads</c>: ≥ 1 runs the node's
/// torch work on that many threads, 0 on every core (the machine's count, the fact <c>threads</c>). Declared threads
/// replace the machine's count in the node's fingerprint (its results depend on the count it ran with, not on the
/// machine it ran on), decide how many cores it takes in a CPU pool (so small nodes run side by side), and are set on
/// the node's compute thread before it starts (<see cref="Execution.IComputeRuntime.SetThreads"/>).
/// </summary>
public static class NodeThreads
{
    public const string Param = "threads";

    /// <summary>The threads a node declares (null: none, it uses every core).</summary>
    public static int? Declared(IReadOnlyDictionary<string, string> canonicalParams) =>
        canonicalParams.TryGetValue(Param, out var json) && int.TryParse(json, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;

    /// <summary>The machine's intra-op thread count in <paramref name="facts"/> (null on GPU runs, where it is no fact).</summary>
    public static int? Machine(EnvironmentFacts facts) =>
        facts.Values.TryGetValue(EnvironmentFacts.ThreadsKey, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
}

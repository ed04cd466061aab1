namespace Fusion.Workflow.Stages;

/// <summary>
/// Facts of the machine that can change a stage's result: they enter fingerprints (filtered by
/// <see cref="IStageKind.EnvironmentDependencies"/>). Keys are lower-case (torchsharp, libtorch, device, dtype).
/// </summary>
public sealed record EnvironmentFacts(IReadOnlyDictionary<string, string> Values)
{
    /// <summary>
    /// The NuGet packages this process computes with: a stage's <see cref="IStageKind.Packages"/> enter its fingerprint
    /// at these versions (tests replace the table to see what a package bump changes).
    /// </summary>
    public Fingerprints.PackageVersions Packages { get; init; } = Fingerprints.PackageVersions.OfThisProcess;

    public const string DeviceKey = "device";
    public const string DtypeKey = "dtype";

    /// <summary>The CPU's intra-op thread count (CPU runs only; a node may declare its own, see <see cref="NodeThreads"/>).</summary>
    public const string ThreadsKey = "threads";

    /// <summary>Device type the stages should use ("cpu" or "cuda").</summary>
    public string Device => Values.TryGetValue(DeviceKey, out var d) ? d : "cpu";

    /// <summary>Floating-point type the stages should compute in ("float32", "bfloat16", …).</summary>
    public string Dtype => Values.TryGetValue(DtypeKey, out var d) ? d : "float32";

    public static EnvironmentFacts Of(params (string Key, string Value)[] facts) =>
        new(facts.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal));
}

/// <summary>Supplies the environment facts (the CLI reads them from TorchSharp; tests pass fixed ones).</summary>
public interface IEnvironmentFactsProvider
{
    EnvironmentFacts GetFacts();
}

public sealed class FixedEnvironmentFacts(EnvironmentFacts facts) : IEnvironmentFactsProvider
{
    public EnvironmentFacts GetFacts() => facts;
}

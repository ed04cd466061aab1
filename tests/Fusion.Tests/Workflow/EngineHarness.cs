using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Workflow;

/// <summary>A temp folder with a local store, the test stage kinds and fixed environment facts.</summary>
public sealed class EngineHarness : IDisposable
{
    public TempDir Dir { get; } = new();
    public LocalArtifactStore Store { get; }
    public StageRegistry Registry { get; private set; } = Registry1();
    public EnvironmentFacts Facts { get; set; } = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"));

    public EngineHarness() => Store = new LocalArtifactStore(Dir["store"]);

    public static StageRegistry Registry1() => new StageRegistry().AddAssembly(typeof(EngineHarness).Assembly);

    /// <summary>Switches the transform kind to code version 2.</summary>
    public void UseTransformV2() => Registry = new StageRegistry().Add(new ConstantStage()).Add(new TransformStageV2()).Add(new GatherStage()).Add(new CountStage()).Add(new FailStage());

    public string Write(string yaml, string name = "test.yaml")
    {
        var path = Dir[name];
        File.WriteAllText(path, yaml);
        return path;
    }

    public Pipeline Load(string yaml, string? profile = null, params string[] overrides) =>
        PipelineLoader.Load(Write(yaml), Registry, profile, overrides);

    public Executor Executor(IRunObserver? observer = null) =>
        new(Store, Registry, new FixedEnvironmentFacts(Facts), NullLoggerFactory.Instance, observer);

    public Task<RunRecord> RunAsync(Pipeline pipeline, RunOptions? options = null, CancellationToken ct = default) =>
        Executor().RunAsync(pipeline, options ?? new RunOptions(), ct);

    public Task<IReadOnlyList<PlanEntry>> PlanAsync(Pipeline pipeline, RunOptions? options = null) =>
        Executor().PlanAsync(pipeline, options ?? new RunOptions());

    public IReadOnlyDictionary<string, PlannedNode> Fingerprints(Pipeline pipeline) => Fingerprinter.Compute(pipeline, Registry, Facts);

    public static NodeState StateOf(RunRecord run, string node) => run.Nodes.Single(n => n.NodeId == node).State;

    public async Task<string> OutputAsync(Pipeline pipeline, string node)
    {
        var manifest = (await Store.GetManifestAsync(Fingerprints(pipeline)[node].Fingerprint)).Manifest ?? throw new InvalidOperationException($"{node} has no output");
        return await File.ReadAllTextAsync(await Store.GetLocalPathAsync(manifest, "out.txt"));
    }

    public void Dispose() => Dir.Dispose();
}

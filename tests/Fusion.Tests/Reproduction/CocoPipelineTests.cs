using Fusion.Tests.Support;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Xunit;

namespace Fusion.Tests.Reproduction;

public sealed class CocoPipelineTests
{
    private static StageRegistry Registry() => new StageRegistry()
        .AddAssembly(typeof(Fusion.Reproduction.Stages.TrainStage).Assembly)
        .AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);

    private static readonly EnvironmentFacts Cpu = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"));
    private static readonly EnvironmentFacts Cuda = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cuda"), ("dtype", "bfloat16"));

    private static string PipelinePath(string name) => Path.Combine(Fixtures.RepoRoot, "pipelines", name + ".yaml");

    [Theory]
    [InlineData("coco-mini")]
    [InlineData("paper")]
    public void Loads_and_plans_the_four_variants_of_the_coco_dag(string name)
    {
        var registry = Registry();
        var pipeline = PipelineLoader.Load(PipelinePath(name), registry);
        // 3 weights + download + 2 encoders + FID reference + 4 variants × 3 seeds × (train, sample, evaluate) + measure + report.
        Assert.Equal(7 + 36 + 2, pipeline.Nodes.Count);
        Assert.Equal(3, pipeline.Nodes.Count(n => n.Kind == "fetch-weights"));
        string[] variants = ["early-concat", "early-cross", "intermediate-concat", "intermediate-cross"];
        foreach (var stage in new[] { "train", "sample", "evaluate" })
            Assert.Equal(variants.SelectMany(v => new[] { 1, 2, 3 }.Select(s => $"{stage}[{v}/seed={s}]")).Order(),
                pipeline.Nodes.Where(n => n.Id.StartsWith(stage + "[", StringComparison.Ordinal)).Select(n => n.Id).Order());
        Assert.Equal(["vae-weights"], pipeline.Node("sample[intermediate-cross/seed=2]").Inputs["vae"]);
        Assert.Equal(["sample[early-cross/seed=3]"], pipeline.Node("evaluate[early-cross/seed=3]").Inputs["samples"]);
        Assert.Equal(12, pipeline.Node("report").Inputs["evaluate"].Count);
        Assert.Equal(12, pipeline.Node("measure").Inputs["model"].Count);
        // Samples of every training seed share their noise seed, so the seeds' evaluations pair.
        Assert.Single(pipeline.Nodes.Where(n => n.Stage == "sample").Select(n => n.Params["seed"]).Distinct());

        var cpu = Fingerprinter.Compute(pipeline, registry, Cpu);
        Assert.Equal(45, cpu.Count);
        Assert.Equal(45, cpu.Values.Select(n => n.Fingerprint).Distinct().Count());
        // Downloads do not depend on the torch environment; the networks do.
        var cuda = Fingerprinter.Compute(pipeline, registry, Cuda);
        foreach (var id in new[] { "clip-weights", "vae-weights", "inception-weights", "coco" })
            Assert.Equal(cpu[id].Fingerprint, cuda[id].Fingerprint);
        foreach (var id in new[] { "latents", "text", "train[early-concat/seed=1]", "evaluate[intermediate-cross/seed=2]", "report" })
            Assert.NotEqual(cpu[id].Fingerprint, cuda[id].Fingerprint);
    }

    [Fact]
    public void Paper_pipeline_uses_the_reference_hyperparameters_and_a_configurable_budget()
    {
        var registry = Registry();
        var full = PipelineLoader.Load(PipelinePath("paper"), registry);
        var train = full.Node("train[intermediate-concat/seed=1]").Params;
        Assert.Equal("1000000", train["steps"]);
        Assert.Equal("256", train["batch_size"]);
        Assert.Equal("512", train["embed_dim"]);
        Assert.Equal("2", train["patch_size"]);
        Assert.Equal("30000", full.Node("sample[early-concat/seed=1]").Params["count"]);
        Assert.Equal("30000", full.Node("text").Params["eval_count"]);

        var shortRun = PipelineLoader.Load(PipelinePath("paper"), registry, profile: "short");
        Assert.Equal("150000", shortRun.Node("train[early-cross/seed=1]").Params["steps"]);
        var a = Fingerprinter.Compute(full, registry, Cpu);
        var b = Fingerprinter.Compute(shortRun, registry, Cpu);
        Assert.Equal(a["text"].Fingerprint, b["text"].Fingerprint);
        Assert.NotEqual(a["train[early-cross/seed=1]"].Fingerprint, b["train[early-cross/seed=1]"].Fingerprint);
        Assert.NotEqual(a["report"].Fingerprint, b["report"].Fingerprint);

        var overridden = PipelineLoader.Load(PipelinePath("paper"), registry, overrides: ["fid-reference.npz_path=/data/fid_stats_mscoco256_val.npz"]);
        Assert.NotEqual(a["fid-reference"].Fingerprint, Fingerprinter.Compute(overridden, registry, Cpu)["fid-reference"].Fingerprint);
    }
}

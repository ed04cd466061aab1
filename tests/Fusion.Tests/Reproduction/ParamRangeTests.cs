using Fusion.Reproduction.Stages;
using Fusion.Tests.Support;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Tests.Reproduction;

/// <summary>Declared param ranges: every numeric param of the paper's stage kinds has one, and the shipped pipelines respect them.</summary>
public sealed class ParamRangeTests
{
    private static readonly string Shapes = Path.Combine(Fixtures.RepoRoot, "pipelines", "shapes.yaml");

    private static StageRegistry Registry() =>
        new StageRegistry().AddAssembly(typeof(TrainStage).Assembly).AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);

    [Fact]
    public void Every_numeric_param_of_every_stage_kind_declares_a_range_its_default_satisfies()
    {
        // Seeds are any integer; every other number has values that make no sense (a count of 0, a negative rate).
        var numbers = new[] { typeof(int), typeof(long), typeof(float), typeof(double) };
        var kinds = Registry().Kinds.ToList();
        Assert.Contains(kinds, k => k.Name == "train");
        var missing = kinds.SelectMany(k => k.Params.ByName.Values   // building the schema checks each default against its range
                .Where(p => numbers.Contains(ParamSchema.ElementType(p.Type) ?? p.Type) && p.Range is null && !p.Name.EndsWith("seed", StringComparison.Ordinal))
                .Select(p => $"{k.Name}.{p.Name}"))
            .ToList();
        Assert.True(missing.Count == 0, "numeric params without a declared range: " + string.Join(", ", missing));
    }

    [Theory]
    [InlineData("train.steps=0", "must be ≥ 1, got 0")]
    [InlineData("train.steps=-5", "must be ≥ 1, got -5")]
    [InlineData("train.batch_size=0", "must be ≥ 1, got 0")]
    [InlineData("train.learning_rate=0", "must be > 0, got 0")]
    [InlineData("train.ema_rate=1", "must be in [0, 1), got 1")]
    [InlineData("train.p_uncond=1.5", "must be in [0, 1], got 1.5")]
    [InlineData("train[early-cross].beta2=1", "must be in [0, 1), got 1")]
    [InlineData("data.train_images=0", "must be ≥ 1, got 0")]
    [InlineData("sample.guidance_scale=-2", "must be ≥ -1, got -2")]
    [InlineData("clip.context_length=2", "must be ≥ 3, got 2")]
    public void Out_of_range_overrides_stop_the_load_naming_the_param_and_its_range(string setting, string message)
    {
        var e = Assert.Throws<PipelineException>(() => PipelineLoader.Load(Shapes, Registry(), "tiny", [setting]));
        Assert.Contains($"-p {setting[..setting.IndexOf('=')]}: param", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Experiment_settings_at_the_edges_are_allowed()
    {
        // p_uncond = 1: the "broken text path" control; ema_rate = 0: export the raw weights; guidance -1: unconditional.
        var p = PipelineLoader.Load(Shapes, Registry(), "tiny", ["train.p_uncond=1", "train.ema_rate=0", "sample.guidance_scale=-1", "train.warmup_steps=0"]);
        Assert.Equal("1", p.Node("train[early-concat]").Params["p_uncond"]);
        Assert.Equal("0", p.Node("train[early-concat]").Params["ema_rate"]);
    }

    [Fact]
    public void The_shipped_pipelines_load_with_every_profile()
    {
        var registry = Registry();
        foreach (var file in Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "pipelines"), "*.yaml"))
            foreach (var profile in PipelineLoader.Load(file, registry).Profiles.Prepend(null))
                Assert.NotEmpty(PipelineLoader.Load(file, registry, profile).Nodes);
    }

    private sealed class OutsideItsRange
    {
        [ParamRange(Min = 1)] public int Steps { get; set; }
    }

    private sealed class RangeOnText
    {
        [ParamRange(Min = 1)] public string Name { get; set; } = "x";
    }

    [Fact]
    public void A_range_on_a_non_number_or_a_default_outside_it_is_a_declaration_error()
    {
        Assert.Contains("default 0 is outside its declared range (≥ 1)", Assert.Throws<NotSupportedException>(ParamSchema.For<OutsideItsRange>).Message);
        Assert.Contains("ranges are for numbers", Assert.Throws<NotSupportedException>(ParamSchema.For<RangeOnText>).Message);
    }
}

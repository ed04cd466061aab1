using Fusion.Workflow.Stages;
using Fusion.Workflow.Pipelines;

namespace Fusion.Tests.Workflow;

/// <summary>The seed axis: <c>seeds: [...]</c> on a stage makes one node per variant and seed.</summary>
public sealed class PipelineSeedsTests
{
    private const string Study = """
        stages:
          data:
            kind: constant
          train:
            kind: transform
            inputs: {source: data}
            variants:
              early: {mode: early-concat}
              late: {mode: intermediate-cross, factor: 3}
            seeds: [1, 2]
          sample:
            kind: transform
            variants: train
            inputs: {source: train}
          measure:
            kind: gather
            inputs: {parts: "train[*]"}
          early-only:
            kind: gather
            inputs: {parts: "train[early]"}
        profiles:
          three: {train.seeds: [4, 5, 6]}
        """;

    [Fact]
    public void Each_variant_runs_under_each_seed_and_downstream_stages_follow_while_upstream_is_shared()
    {
        using var h = new EngineHarness();
        var p = h.Load(Study);
        Assert.Equal(["data", "train[early/seed=1]", "train[early/seed=2]", "train[late/seed=1]", "train[late/seed=2]",
                      "sample[early/seed=1]", "sample[early/seed=2]", "sample[late/seed=1]", "sample[late/seed=2]", "measure", "early-only"],
            p.Nodes.Select(n => n.Id));
        Assert.Equal("2", p.Node("train[late/seed=2]").Params["seed"]);
        Assert.Equal("3", p.Node("train[late/seed=2]").Params["factor"]);            // the variant's params cover all its seeds
        Assert.Equal("7", p.Node("sample[late/seed=2]").Params["seed"]);             // a follower keeps its own seed (same noise for every model)
        Assert.Equal(["train[late/seed=2]"], p.Node("sample[late/seed=2]").Inputs["source"]);
        Assert.All(p.Nodes.Where(n => n.Stage == "train"), n => Assert.Equal(["data"], n.Inputs["source"]));
        Assert.Equal(4, p.Node("measure").Inputs["parts"].Count);
        Assert.Equal(["train[early/seed=1]", "train[early/seed=2]"], p.Node("early-only").Inputs["parts"]);
        Assert.Equal((("late", (long?)2)), SeedAxis.Split("late/seed=2"));
        Assert.Equal(((string?)null, (long?)3), SeedAxis.Split("seed=3"));
        Assert.Equal(("early-concat", (long?)null), SeedAxis.Split("early-concat"));
    }

    [Fact]
    public void A_recipe_is_the_fingerprint_without_the_training_seed_and_the_machine()
    {
        using var h = new EngineHarness();
        var two = h.Fingerprints(h.Load(Study));
        // Every seed of a variant, and everything downstream of it, shares one recipe; the fingerprints differ.
        Assert.Equal(two["sample[late/seed=1]"].Recipe, two["sample[late/seed=2]"].Recipe);
        Assert.NotEqual(two["sample[late/seed=1]"].Fingerprint, two["sample[late/seed=2]"].Fingerprint);
        Assert.NotEqual(two["sample[early/seed=1]"].Recipe, two["sample[late/seed=1]"].Recipe);
        Assert.Equal(two["train[late/seed=2]"].Recipe, two["sample[late/seed=2]"].InputRecipes!["source"][0]);
        // One declared seed (no suffix, another seed value) is the same recipe.
        var one = h.Fingerprints(h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]")));
        Assert.Equal(two["sample[late/seed=1]"].Recipe, one["sample[late]"].Recipe);
        // Any other param is part of it, a follower's own seed included; so are the device type and the dtype.
        Assert.NotEqual(one["sample[late]"].Recipe, h.Fingerprints(h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]"), null, "train[late].factor=4"))["sample[late]"].Recipe);
        Assert.NotEqual(one["sample[late]"].Recipe, h.Fingerprints(h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]"), null, "sample.seed=8"))["sample[late]"].Recipe);
        var recipe = one["sample[late]"].Recipe;
        h.Facts = EnvironmentFacts.Of([.. h.Facts.Values.Where(kv => kv.Key != "libtorch").Select(kv => (kv.Key, kv.Value)), ("cpu.isa", "avx2"), ("threads", "64"), ("libtorch", "9.9")]);
        var elsewhere = h.Fingerprints(h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]")))["sample[late]"];
        Assert.Equal(recipe, elsewhere.Recipe);
        Assert.NotEqual(one["sample[late]"].Fingerprint, elsewhere.Fingerprint);
        h.Facts = EnvironmentFacts.Of([.. h.Facts.Values.Where(kv => kv.Key != "dtype").Select(kv => (kv.Key, kv.Value)), ("dtype", "bfloat16")]);
        Assert.NotEqual(recipe, h.Fingerprints(h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]")))["sample[late]"].Recipe);
    }

    [Fact]
    public void One_seed_keeps_the_node_names_and_sets_the_param()
    {
        using var h = new EngineHarness();
        var p = h.Load(Study.Replace("seeds: [1, 2]", "seeds: [9]"));
        Assert.Equal("9", p.Node("train[early]").Params["seed"]);
        Assert.Equal(["train[early]"], p.Node("sample[early]").Inputs["source"]);
    }

    [Fact]
    public void Profiles_and_overrides_replace_the_seeds_and_a_seed_of_one_variant_can_be_set()
    {
        using var h = new EngineHarness();
        var three = h.Load(Study, "three");
        Assert.Equal(["train[early/seed=4]", "train[early/seed=5]", "train[early/seed=6]"], three.Resolve("train").Take(3));
        var cli = h.Load(Study, null, "train.seeds=[1, 2, 3]", "train[early/seed=3].factor=5", "train[late].factor=4");
        Assert.Equal("5", cli.Node("train[early/seed=3]").Params["factor"]);
        Assert.Equal("1", cli.Node("train[early/seed=2]").Params["factor"]);
        Assert.Equal("4", cli.Node("train[late/seed=1]").Params["factor"]);
    }

    [Theory]
    [InlineData("seeds: [1, x]", "test.yaml:10:12: stages.train.seeds: seed 'x' is not an integer")]
    [InlineData("seeds: [1, 1]", "test.yaml:10:12: stages.train.seeds: seed 1 is listed twice")]
    [InlineData("seeds: []", "test.yaml:10:12: stages.train.seeds: seeds is a non-empty list of integers")]
    [InlineData("seeds: 3", "test.yaml:10:12: stages.train.seeds: seeds is a non-empty list of integers")]
    public void Bad_seed_lists_are_named_with_their_location(string seeds, string expected)
    {
        using var h = new EngineHarness();
        var e = Assert.Throws<PipelineException>(() => h.Load(Study.Replace("seeds: [1, 2]", seeds)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Seeds_need_a_seed_param_and_own_it()
    {
        using var h = new EngineHarness();
        var e = Assert.Throws<PipelineException>(() => h.Load("stages:\n  data:\n    kind: constant\n    seeds: [1, 2]\n"));
        Assert.Contains("test.yaml:4:12: stages.data.seeds: seeds set the param 'seed', which kind 'constant' does not have", e.Message);
        e = Assert.Throws<PipelineException>(() => h.Load(Study, null, "train.seed=3"));
        Assert.Contains("-p train.seed: stage 'train' declares seeds (1, 2), which set its param 'seed'; change train.seeds instead", e.Message);
        e = Assert.Throws<PipelineException>(() => h.Load(Study, null, "train[early].seeds=[1]"));
        Assert.Contains("seeds are set per stage (train.seeds), not per variant", e.Message);
        e = Assert.Throws<PipelineException>(() => h.Load(Study + "\n  bad: {train.seeds: [a]}\n"));
        Assert.Contains("test.yaml:23:9: profiles.bad.train.seeds: seed 'a' is not an integer", e.Message);   // checked even when not selected
    }
}

using Fusion.Workflow.Pipelines;

namespace Fusion.Tests.Workflow;

public sealed class PipelineTests
{
    private const string Paper = """
        stages:
          data:
            kind: constant
            params: {text: abc}
          train:
            kind: transform
            inputs: {source: data}
            params: {factor: 2}
            variants:
              early-concat: {mode: early-concat}
              intermediate-cross: {mode: intermediate-cross, factor: 3}
          sample:
            kind: transform
            variants: train
            inputs: {source: train}
          report:
            kind: gather
            inputs:
              parts: sample[*]
          one:
            kind: transform
            inputs: {source: "train[early-concat]"}
        profiles:
          tiny: {train.factor: 5, "train[intermediate-cross].factor": 7, data.repeat: 2}
        """;

    [Fact]
    public void Variants_expand_into_one_node_each_and_inputs_follow_the_matching_variant()
    {
        using var h = new EngineHarness();
        var p = h.Load(Paper);
        Assert.Equal(["data", "train[early-concat]", "train[intermediate-cross]", "sample[early-concat]", "sample[intermediate-cross]", "report", "one"],
            p.Nodes.Select(n => n.Id));
        Assert.Equal(["train[intermediate-cross]"], p.Node("sample[intermediate-cross]").Inputs["source"]);
        Assert.Equal(["sample[early-concat]", "sample[intermediate-cross]"], p.Node("report").Inputs["parts"]);
        Assert.Equal(["train[early-concat]"], p.Node("one").Inputs["source"]);
        Assert.Equal("\"early-concat\"", p.Node("train[early-concat]").Params["mode"]);
        Assert.Equal("2", p.Node("train[early-concat]").Params["factor"]);
        Assert.Equal("3", p.Node("train[intermediate-cross]").Params["factor"]);
        Assert.Equal("1", p.Node("sample[early-concat]").Params["factor"]); // default
        Assert.Equal(["train[early-concat]", "train[intermediate-cross]"], p.Resolve("train"));
        Assert.Equal(2, p.Resolve("sample").Count);
    }

    [Fact]
    public void A_variant_list_sets_the_variant_param_and_variants_can_be_borrowed()
    {
        using var h = new EngineHarness();
        var p = h.Load("stages:\n  c: {kind: constant, variants: [x, y]}\n  t: {kind: transform, variants: c, inputs: {source: c}}\n");
        Assert.Equal(["c[x]", "c[y]", "t[x]", "t[y]"], p.Nodes.Select(n => n.Id));
        Assert.Equal("\"y\"", p.Node("c[y]").Params["variant"]);
        Assert.Equal(["c[y]"], p.Node("t[y]").Inputs["source"]);
        Assert.Equal("y", p.Node("t[y]").Variant);
        var e = Assert.Throws<PipelineException>(() => h.Load("stages:\n  c: {kind: constant, variants: [x]}\n  t: {kind: transform, inputs: {source: c}}\n"));
        Assert.Contains("test.yaml:3:41: stages.t.inputs.source: stage 'c' has variants (x); write c[VARIANT], c[*]", e.Message);
    }

    [Fact]
    public void Profile_then_overrides_take_precedence_stage_wide_before_per_variant()
    {
        using var h = new EngineHarness();
        var p = h.Load(Paper, "tiny", "train[early-concat].factor=9", "data.text=xyz");
        Assert.Equal("9", p.Node("train[early-concat]").Params["factor"]);
        Assert.Equal("7", p.Node("train[intermediate-cross]").Params["factor"]);
        Assert.Equal("2", p.Node("data").Params["repeat"]);
        Assert.Equal("\"xyz\"", p.Node("data").Params["text"]);
        var lists = h.Load(Paper, null, "one.tags=[3, 1]", "one.upper=true");
        Assert.Equal("[3,1]", lists.Node("one").Params["tags"]);
        Assert.Equal("true", lists.Node("one").Params["upper"]);
    }

    [Fact]
    public void Yaml_formatting_key_order_and_number_spelling_do_not_change_fingerprints()
    {
        using var h = new EngineHarness();
        var a = h.Fingerprints(h.Load("""
            stages:
              data: {kind: constant, params: {text: abc, repeat: 2}}
              t:
                kind: transform
                inputs: {source: data}
                params: {factor: 0.0001, scale: 0.5, tags: [1, 2], mode: EarlyConcat}
            """));
        var b = h.Fingerprints(h.Load("""
            # same pipeline, other spelling
            stages:
              t:
                params:
                  tags:
                    - 1
                    - 2
                  mode: early-concat
                  scale: 5e-1
                  factor: 1e-4
                inputs:
                  source: data
                kind: transform
              data:
                params: {repeat: 2, text: "abc", seed: 7}
                kind: constant
            """.Replace("seed: 7", "")));
        Assert.Equal(a["data"].Fingerprint, b["data"].Fingerprint);
        Assert.Equal(a["t"].Fingerprint, b["t"].Fingerprint);
        // Defaults written out explicitly are the same params as left out.
        var c = h.Fingerprints(h.Load("""
            stages:
              data: {kind: constant, params: {text: abc, repeat: 2}}
              t: {kind: transform, inputs: {source: data}, params: {factor: 0.0001, tags: [1, 2], mode: early-concat, seed: 7, upper: false}}
            """));
        Assert.Equal(a["t"].Fingerprint, c["t"].Fingerprint);
    }

    [Fact]
    public void Fingerprints_change_with_params_code_version_upstream_and_environment()
    {
        using var h = new EngineHarness();
        const string yaml = "stages:\n  data: {kind: constant}\n  t: {kind: transform, inputs: {source: data}}\n";
        var baseline = h.Fingerprints(h.Load(yaml));
        Assert.Matches("^[0-9a-f]{64}$", baseline["t"].Fingerprint);

        var param = h.Fingerprints(h.Load(yaml, null, "t.factor=2"));
        Assert.Equal(baseline["data"].Fingerprint, param["data"].Fingerprint);
        Assert.NotEqual(baseline["t"].Fingerprint, param["t"].Fingerprint);

        var upstream = h.Fingerprints(h.Load(yaml, null, "data.text=other"));
        Assert.NotEqual(baseline["data"].Fingerprint, upstream["data"].Fingerprint);
        Assert.NotEqual(baseline["t"].Fingerprint, upstream["t"].Fingerprint);

        var env = h.Facts;
        h.Facts = env with { Values = new Dictionary<string, string>(env.Values) { ["device"] = "cuda" } };
        var cuda = h.Fingerprints(h.Load(yaml));
        Assert.Equal(baseline["data"].Fingerprint, cuda["data"].Fingerprint); // constant declares no environment dependency
        Assert.NotEqual(baseline["t"].Fingerprint, cuda["t"].Fingerprint);
        h.Facts = env;

        h.UseTransformV2();
        var v2 = h.Fingerprints(h.Load(yaml));
        Assert.Equal("2", v2["t"].Parts["code"]);
        Assert.NotEqual(baseline["t"].Fingerprint, v2["t"].Fingerprint);
    }

    public static TheoryData<string, string, string> ConfigErrors => new()
    {
        { "stages:\n  a:\n    kind: constant\n    colour: red\n", "test.yaml:4:5", "stages.a.colour" },
        { "stages:\n  a:\n    kind: nope\n", "test.yaml:3:11", "unknown stage kind 'nope'" },
        { "stages:\n  a:\n    kind: constant\n    params:\n      repeat: many\n", "test.yaml:5:7", "stages.a.params.repeat: param 'repeat' of kind 'constant': expected an integer" },
        { "stages:\n  a:\n    kind: constant\n    params: {repeet: 2}\n", "test.yaml:4:14", "kind 'constant' has no param 'repeet'" },
        { "stages:\n  a:\n    kind: transform\n", "test.yaml:3:5", "stages.a.inputs.source: missing input 'source'" },
        { "stages:\n  a:\n    kind: transform\n    inputs: {source: b}\n  b:\n    kind: transform\n    inputs: {source: a}\n", "test.yaml:4:13", "cycle: a → b → a" },
        { "stages:\n  a:\n    kind: transform\n    inputs: {source: zz}\n", "test.yaml:4:22", "stages.a.inputs.source: no stage 'zz'" },
        { "stages:\n  a: {kind: constant}\nprofiles:\n  tiny: {a.text: x, a.rep: 1}\n", "test.yaml:4:21", "profiles.tiny.a.rep" },
        { "stages:\n  a: {kind: constant}\n  a: {kind: constant}\n", "test.yaml:3:3", "uplicate" },
        { "stages:\n  a:\n    kind: transform\n    variants: {x: {mode: sideways}}\n    inputs: {source: a}\n", "test.yaml:4:20", "expected one of plain, early-concat, intermediate-cross" },
        // YamlDotNet's scanner throws a bare InvalidOperationException on this one (an unclosed flow mapping).
        { "stages:\n  data:\n    kind: constant\n    params: {repeat: 4\n  clip: [\n", "test.yaml:5:3", "malformed YAML" },
        { "stages:\n  a: {kind: constant\n", "test.yaml:", "" },
        { "stages:\n  a: [kind: constant\n", "test.yaml:", "" },
        { "stages:\n  a: {kind: 'constant}\n", "test.yaml:", "" },
        { "stages:\n\t a: {kind: constant}\n", "test.yaml:", "" },
        // Declared ranges: file params, per-variant params and profiles name their line and the range.
        { "stages:\n  a:\n    kind: constant\n    params: {repeat: -1}\n", "test.yaml:4:14", "stages.a.params.repeat: param 'repeat' of kind 'constant': must be ≥ 0, got -1" },
        { "stages:\n  s: {kind: constant}\n  a:\n    kind: transform\n    inputs: {source: s}\n    variants: {x: {scale: 1}}\n", "test.yaml:6:20", "param 'scale' of kind 'transform': must be in (0, 1), got 1" },
        { "stages:\n  s: {kind: constant}\n  a: {kind: transform, inputs: {source: s}, params: {tags: [1, 100]}}\n", "test.yaml:3:54", "must be in [0, 99], got 100" },
        { "stages:\n  a: {kind: constant}\nprofiles:\n  tiny: {a.repeat: -3}\n", "test.yaml:4:10", "profiles.tiny.a.repeat: param 'repeat' of kind 'constant': must be ≥ 0, got -3" },
    };

    [Theory]
    [MemberData(nameof(ConfigErrors))]
    public void Config_errors_name_file_line_and_key(string yaml, string location, string text)
    {
        using var h = new EngineHarness();
        var e = Assert.Throws<PipelineException>(() => h.Load(yaml));
        Assert.Contains(location, e.Message);
        Assert.Contains(text, e.Message);
    }

    [Fact]
    public void An_extending_file_changes_params_over_its_base_and_adds_profiles()
    {
        using var h = new EngineHarness();
        h.Write(Paper, "base.yaml");
        var path = h.Write("""
            description: the base with more repeats
            extends: base.yaml
            params: {data.repeat: 4, "train[early-concat].factor": 6}
            profiles:
              small: {data.repeat: 1}
            """, "nightly.yaml");
        var p = PipelineLoader.Load(path, h.Registry);
        var b = PipelineLoader.Load(h.Dir["base.yaml"], h.Registry);
        Assert.Equal("nightly", p.Name);
        Assert.Equal(b.Nodes.Select(n => n.Id), p.Nodes.Select(n => n.Id));
        Assert.Equal("4", p.Node("data").Params["repeat"]);
        Assert.Equal("6", p.Node("train[early-concat]").Params["factor"]);
        Assert.Equal("3", p.Node("train[intermediate-cross]").Params["factor"]);   // the base's variant param stays
        Assert.Equal(["small", "tiny"], p.Profiles.Order());
        Assert.Equal("1", PipelineLoader.Load(path, h.Registry, "small").Node("data").Params["repeat"]);
        Assert.Equal("5", PipelineLoader.Load(path, h.Registry, "tiny", ["train.factor=5"]).Node("train[early-concat]").Params["factor"]);

        // Same params as the base → same nodes, so the two share artifacts.
        var same = PipelineLoader.Load(h.Write("extends: base.yaml\n", "same.yaml"), h.Registry);
        Assert.Equal(b.Nodes.Select(n => n.Params), same.Nodes.Select(n => n.Params));

        // Errors name the extending file.
        Assert.Contains("bad.yaml:2:26: params.data.repeet: kind 'constant' has no param 'repeet'",
            Assert.Throws<PipelineException>(() => PipelineLoader.Load(h.Write("extends: base.yaml\nparams: {data.repeat: 1, data.repeet: 2}\n", "bad.yaml"), h.Registry)).Message);
        Assert.Contains("stages.yaml:2:1: stages: unknown key 'stages'",
            Assert.Throws<PipelineException>(() => PipelineLoader.Load(h.Write("extends: base.yaml\nstages: {x: {kind: constant}}\n", "stages.yaml"), h.Registry)).Message);
        Assert.Contains("extends: pipeline file 'gone.yaml' does not exist",
            Assert.Throws<PipelineException>(() => PipelineLoader.Load(h.Write("extends: gone.yaml\n", "gone-base.yaml"), h.Registry)).Message);
        Assert.Contains("'nightly.yaml' itself extends 'base.yaml'",
            Assert.Throws<PipelineException>(() => PipelineLoader.Load(h.Write("extends: nightly.yaml\n", "chain.yaml"), h.Registry)).Message);
    }

    [Fact]
    public void Command_line_errors_name_the_override()
    {
        using var h = new EngineHarness();
        const string yaml = "stages:\n  a: {kind: constant}\n";
        Assert.Contains("-p a.repeat: param 'repeat' of kind 'constant': expected an integer, got 'x'", Assert.Throws<PipelineException>(() => h.Load(yaml, null, "a.repeat=x")).Message);
        Assert.Contains("command line: -p a.repeat: param 'repeat' of kind 'constant': must be ≥ 0, got -2", Assert.Throws<PipelineException>(() => h.Load(yaml, null, "a.repeat=-2")).Message);
        Assert.Equal("0", h.Load(yaml, null, "a.repeat=0").Node("a").Params["repeat"]);   // the bound itself is in range
        Assert.Contains("no stage 'b'", Assert.Throws<PipelineException>(() => h.Load(yaml, null, "b.repeat=1")).Message);
        Assert.Contains("unknown profile 'huge'", Assert.Throws<PipelineException>(() => h.Load(yaml, "huge")).Message);
        Assert.Contains("does not exist", Assert.Throws<PipelineException>(() => PipelineLoader.Load(h.Dir["missing.yaml"], h.Registry)).Message);
        Assert.Contains("pipeline 'nowhere.yaml' does not exist", Assert.Throws<PipelineException>(() => Fusion.Cli.EngineSetup.ResolvePipelinePath("nowhere.yaml")).Message);
        // The default pipeline is found from the test host's bin folder too (not only from the repository root).
        var defaultPipeline = Path.GetFullPath(Fusion.Cli.EngineSetup.ResolvePipelinePath(null));
        Assert.EndsWith(Path.Combine("pipelines", "shapes.yaml"), defaultPipeline);
        Assert.True(File.Exists(defaultPipeline), defaultPipeline);
    }
}

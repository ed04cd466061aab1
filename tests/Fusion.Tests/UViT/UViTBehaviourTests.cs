using Fusion.Models;
using Fusion.Models.UViT;
using Fusion.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>Shapes, the derived invariants of the reference notes (§4.5), precision and input checks on tiny configs.</summary>
public class UViTBehaviourTests
{
    /// <summary>The four variants at sizes a depth-4 tiny config allows (c = v = 1, as the fixtures).</summary>
    public static readonly UViTFusion[] TinyFusions =
        [UViTFusion.EarlyConcat, UViTFusion.EarlyCross, UViTFusion.IntermediateConcat(1, 1), UViTFusion.IntermediateCross(1, 1)];

    // Own generators, never libtorch's default one: tests run in parallel and a seeded build elsewhere must not lose draws.
    private static (Tensor X, Tensor T, Tensor Ctx) Inputs(UViTConfig c, int batch, int seed)
    {
        using var g = new Generator((ulong)seed);
        return (randn([batch, c.InChannels, c.ImageSize, c.ImageSize], generator: g), tensor(Enumerable.Range(0, batch).Select(i => 1f + 997f * i / Math.Max(1, batch - 1)).ToArray()),
                randn([batch, c.NumClipTokens, c.ClipDim], generator: g));
    }

    /// <summary>O(1) random values everywhere, so that every parameter visibly shapes the output.</summary>
    private static void Randomise(nn.Module model, int seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var p in model.parameters()) p.copy_(randn(p.shape, p.dtype, generator: g) * 0.3);
    }

    private static double RelativeError(Tensor actual, Tensor expected) =>
        (actual - expected).abs().max().item<float>() / (double)expected.abs().max().item<float>();

    [Theory]
    [InlineData("early-concat")]
    [InlineData("intermediate-cross(1,1)")]
    public void Sincos_positions_fill_the_patch_rows_with_the_2d_table_and_leave_time_and_text_rows(string variant)
    {
        var c = UViTConfig.Tiny(UViTFusion.Parse(variant)) with { ImageSize = 8, PatchSize = 2 };
        using var net = TorchRandom.Seeded(3, () => new Fusion.Models.UViT.UViT(c));
        using var before = net.pos_embed.detach().clone();
        net.InitPositionsSinCos();
        int side = 4, d = c.EmbedDim, first = variant == "early-concat" ? 1 + c.NumClipTokens : 0;
        var table = net.pos_embed.detach().narrow(1, first, side * side).reshape(side, side, d);
        // Patch (row 2, column 3), frequency k = 1 of width 64: sin/cos of position·10000^(−1/16) in each quarter.
        var omega = Math.Pow(10000, -1.0 / 16);
        Assert.Equal(Math.Sin(2 * omega), table[2, 3, 1].item<float>(), 6);
        Assert.Equal(Math.Cos(2 * omega), table[2, 3, 16 + 1].item<float>(), 6);
        Assert.Equal(Math.Sin(3 * omega), table[2, 3, 32 + 1].item<float>(), 6);
        Assert.Equal(Math.Cos(3 * omega), table[2, 3, 48 + 1].item<float>(), 6);
        // Every other row is untouched, and the table is still the learnable parameter.
        var rows = Enumerable.Range(0, c.NumTokens).Where(r => r < first || r >= first + side * side).ToArray();
        using var idx = tensor(rows.Select(r => (long)r).ToArray());
        Assert.True(net.pos_embed.detach().index_select(1, idx).eq(before.index_select(1, idx)).all().item<bool>());
        Assert.True(net.pos_embed.requires_grad);
    }

    public static TheoryData<string> Shapes => new()
    {
        "early-concat", "early-cross", "intermediate-concat(1,1)", "intermediate-cross(1,1)", "intermediate-concat(0,2)",
        "intermediate-cross(2,0)", "intermediate-concat(3,0)", "intermediate-cross(0,2)",
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_variant_maps_latents_to_same_shaped_eps(string variant)
    {
        foreach (var config in new[]
                 {
                     UViTConfig.Tiny(UViTFusion.Parse(variant)),
                     UViTConfig.Tiny(UViTFusion.Parse(variant)) with { ImageSize = 16, PatchSize = 4, InChannels = 3, EmbedDim = 48, NumHeads = 3, NumClipTokens = 5, ClipDim = 24, MlpRatio = 2 },
                 })
        {
            using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
            var (x, t, ctx) = Inputs(config, 3, 1);
            using var eps = model.call(x, t, ctx);
            Assert.Equal(x.shape, eps.shape);
            Assert.True(eps.isfinite().all().item<bool>());
            Assert.Equal(config.ImagePathBlocks, 2 * (model.image_blocks.Count + model.joint_blocks.Count) + 1);
            Assert.Equal(config.TextBlocks, model.caption_blocks.Count);
        }
    }

    /// <summary>
    /// Notes §4.2/§4.5: intermediate-concat with c = v = 0 is early-concat up to token order. Weights map by renaming
    /// in_blocks ↔ joint_blocks, out_blocks ↔ joint_skip_blocks and permuting pos_embed rows from [time | text | patches]
    /// to [patches | time | text]; then the outputs agree. Without the row permutation they must not.
    /// </summary>
    [Fact]
    public void Intermediate_concat_without_text_or_image_blocks_equals_early_concat_up_to_token_order()
    {
        var early = UViTConfig.Tiny(UViTFusion.EarlyConcat) with { Depth = 6 };
        using var a = TorchRandom.Unseeded(() => new Models.UViT.UViT(early));   // randomised next
        using var b = TorchRandom.Unseeded(() => new Models.UViT.UViT(early with { Fusion = UViTFusion.IntermediateConcat(0, 0) }));
        Randomise(a, 3);
        var weights = a.state_dict().ToDictionary(
            kv => kv.Key.Replace("in_blocks.", "joint_blocks.").Replace("out_blocks.", "joint_skip_blocks."), kv => kv.Value);
        long text = early.NumClipTokens, patches = early.NumPatches;
        var pos = a.pos_embed.detach();
        weights["pos_embed"] = cat([pos.narrow(1, 1 + text, patches), pos.narrow(1, 0, 1), pos.narrow(1, 1, text)], 1);
        StateDict.LoadStrict(b, weights, "early-concat weights (renamed, rows permuted)");

        var (x, t, ctx) = Inputs(early, 2, 4);
        using var _ = no_grad();
        using var ea = a.call(x, t, ctx);
        using var eb = b.call(x, t, ctx);
        Assert.True(RelativeError(eb, ea) < 1e-5, $"relative error {RelativeError(eb, ea):G3}");

        weights["pos_embed"] = pos;   // same weights, rows not permuted: a different function
        StateDict.LoadStrict(b, weights, "early-concat weights (renamed)");
        using var unpermuted = b.call(x, t, ctx);
        Assert.True(RelativeError(unpermuted, ea) > 1e-2);
    }

    /// <summary>Notes §4.5: a cross block with N = l is a concat block whose qkv is the row-concatenation of q and kv.</summary>
    [Fact]
    public void Cross_block_over_its_own_tokens_equals_a_concat_block_with_stacked_q_and_kv()
    {
        using var cross = TorchRandom.Unseeded(() => new Block(32, 4, 64, qkvBias: false, skip: true, crossQueryTokens: 9));     // randomised next
        using var concat = TorchRandom.Unseeded(() => new Block(32, 4, 64, qkvBias: false, skip: true, crossQueryTokens: null)); // loaded next
        Randomise(cross, 6);
        var w = cross.state_dict();
        var mapped = w.Where(kv => !kv.Key.StartsWith("attn.q", StringComparison.Ordinal) && !kv.Key.StartsWith("attn.kv", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        mapped["attn.qkv.weight"] = cat([w["attn.q.weight"], w["attn.kv.weight"]], 0);
        StateDict.LoadStrict(concat, mapped, "cross block weights");
        using var g = new Generator(5);
        using var x = randn([2, 9, 32], generator: g);
        using var skip = randn([2, 9, 32], generator: g);
        using var _ = no_grad();
        Assert.True(RelativeError(cross.forward(x, skip), concat.forward(x, skip)) < 1e-5);
        // With extra key/value tokens the cross block keeps only the 9 query tokens.
        using var longer = cat([x, randn([2, 4, 32], generator: g)], 1);
        Assert.Equal([2L, 9, 32], cross.forward(longer, skip).shape);
    }

    /// <summary>Notes §4.5: in the cross variants the caption path does not see the latent or the time.</summary>
    [Fact]
    public void Caption_path_is_independent_of_latent_and_time_and_text_changes_the_output()
    {
        var config = UViTConfig.Tiny(UViTFusion.IntermediateCross(2, 1));
        using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
        Randomise(model, 8);
        var captions = new List<Tensor>();
        model.caption_blocks[^1].mlp.register_forward_hook((_, _, y) => { captions.Add(y.detach().clone().DetachFromDisposeScope()); return null!; });
        var (x, t, ctx) = Inputs(config, 2, 9);
        var (otherX, _, _) = Inputs(config, 2, 19);
        using var _ = no_grad();
        using var e1 = model.call(x, t, ctx);
        using var e2 = model.call(otherX, t.flip(0), ctx);
        using var e3 = model.call(x, t, ctx + 0.5);
        Assert.Equal(0.0, (captions[0] - captions[1]).abs().max().item<float>());
        Assert.True(RelativeError(e3, e1) > 1e-3);
    }

    [Fact]
    public void Bfloat16_module_runs_in_bfloat16_and_tracks_float32()
    {
        foreach (var fusion in TinyFusions)
        {
            var config = UViTConfig.Tiny(fusion);
            using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
            var (x, t, ctx) = Inputs(config, 2, 10);
            using var _ = no_grad();
            using var reference = model.call(x, t, ctx);
            model.to(ScalarType.BFloat16);
            Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
            using var low = model.call(x, t, ctx);     // float32 inputs are cast to the module's dtype
            Assert.Equal(ScalarType.BFloat16, low.dtype);
            Assert.True(RelativeError(low.to_type(ScalarType.Float32), reference) < 0.05, $"{fusion}: {RelativeError(low.to_type(ScalarType.Float32), reference):G3}");
        }
    }

    [Fact]
    public void Bad_inputs_name_the_culprit()
    {
        var config = UViTConfig.Tiny(UViTFusion.EarlyCross);
        using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
        var (x, t, ctx) = Inputs(config, 2, 11);
        Assert.Contains("context", Assert.Throws<ArgumentException>(() => model.call(x, t, zeros(2, 7, 32))).Message);
        Assert.Contains("timesteps", Assert.Throws<ArgumentException>(() => model.call(x, tensor(new float[] { 1 }), ctx)).Message);
        Assert.Contains("x has shape", Assert.Throws<ArgumentException>(() => model.call(zeros(2, 4, 6, 6), t, ctx)).Message);
        Assert.Contains("NumHeads", Assert.Throws<ArgumentException>(() => new Models.UViT.UViT(config with { NumHeads = 5 })).Message);
        Assert.Contains("CrossMidBlockQueryTokens", Assert.Throws<ArgumentException>(() => (UViTConfig.Tiny(UViTFusion.EarlyCross) with { ImageSize = 64 }).Validate()).Message);
        Assert.Contains("Depth ≥ 2v", Assert.Throws<ArgumentException>(() => UViTConfig.Tiny(UViTFusion.IntermediateConcat(1, 3)).Validate()).Message);
    }

    [Theory]
    [InlineData("early-concat", "early-concat", 0, 0)]
    [InlineData("early-cross", "early-cross", 0, 0)]
    [InlineData("intermediate-concat", "intermediate-concat(c=3,v=3)", 3, 3)]
    [InlineData("Intermediate-Cross(1, 4)", "intermediate-cross(c=1,v=4)", 1, 4)]
    [InlineData("intermediate-cross(c=0,v=6)", "intermediate-cross(c=0,v=6)", 0, 6)]
    public void Variant_names_parse_and_print_canonically(string text, string canonical, int c, int v)
    {
        var fusion = UViTFusion.Parse(text);
        Assert.Equal(canonical, fusion.ToString());
        Assert.Equal((c, v), (fusion.TextBlocks, fusion.ImageOnlyBlocks));
        Assert.Equal(fusion, UViTFusion.Parse(fusion.ToString()));
    }

    [Theory]
    [InlineData("late-concat")]
    [InlineData("early-concat(1,1)")]
    [InlineData("intermediate-cross(1)")]
    public void Unknown_variant_names_are_rejected(string text) =>
        Assert.Throws<FormatException>(() => UViTFusion.Parse(text));
}

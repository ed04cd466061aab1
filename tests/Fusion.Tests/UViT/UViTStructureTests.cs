using Fusion.Models;
using Fusion.Models.Layers;
using Fusion.Models.UViT;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>Parameter counts, state-dict names and shapes, and initialisation against the reference.</summary>
public class UViTStructureTests
{
    private const long EarlyConcatS2Parameters = 44_692_644;

    /// <summary>A plain block: norms 2·2D, qkv 3D² (+3D with bias), proj D²+D, MLP D·H+H + H·D+D.</summary>
    private static long BlockParameters(UViTConfig c)
    {
        long d = c.EmbedDim, h = c.MlpHidden;
        return 4 * d + 3 * d * d + (c.QkvBias ? 3 * d : 0) + d * d + d + d * h + h + h * d + d;
    }

    // S/2 structure is checked on the META device: shapes without storage or initialisation cost.
    [Fact]
    public void Early_concat_S2_has_the_reference_parameter_count()
    {
        using var model = new Models.UViT.UViT(UViTConfig.SmallS2(UViTFusion.EarlyConcat), META);
        Assert.Equal(EarlyConcatS2Parameters, model.ParameterCount());
    }

    [Fact]
    public void Each_text_only_block_adds_one_plain_block_of_parameters()
    {
        var s2 = UViTConfig.SmallS2(UViTFusion.EarlyConcat);
        Assert.Equal(3_150_848, BlockParameters(s2));                       // 12·D² + 10·D at D = 512
        foreach (var fusion in new[] { UViTFusion.IntermediateConcat(1, 3), UViTFusion.IntermediateCross(3, 3), UViTFusion.EarlyCross })
        {
            using var model = new Models.UViT.UViT(s2 with { Fusion = fusion }, META);
            Assert.Equal(EarlyConcatS2Parameters + fusion.TextBlocks * BlockParameters(s2), model.ParameterCount());
            Assert.Equal(fusion.TextBlocks * BlockParameters(s2), model.caption_blocks.parameters().Sum(p => p.numel()));
        }
    }

    [Fact]
    public void Odd_depth_rounds_down_as_the_reference_does()
    {
        // The authors build range(depth // 2) blocks per side (range((depth − 2v) // 2) joint ones after v image-only
        // ones), so depth 5 is depth 4 with the same names, and depth 7 with v = 2 has 2 image-only + 1 joint per side.
        foreach (var (fusion, depth) in new[] { (UViTFusion.EarlyConcat, 5), (UViTFusion.EarlyCross, 5), (UViTFusion.IntermediateConcat(1, 1), 5), (UViTFusion.IntermediateCross(2, 2), 7) })
        {
            using var odd = new Models.UViT.UViT(UViTConfig.Tiny(fusion) with { Depth = depth }, META);
            using var even = new Models.UViT.UViT(UViTConfig.Tiny(fusion) with { Depth = depth - 1 }, META);
            Assert.Equal(depth / 2, odd.image_blocks.Count + odd.joint_blocks.Count);
            Assert.Equal(even.state_dict().Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]"),
                         odd.state_dict().Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]"));
        }
    }

    [Fact]
    public void State_dicts_have_exactly_the_reference_names_shapes_and_order()
    {
        var listing = ReferenceKeys.Read();
        Assert.NotEmpty(listing.Sections);
        foreach (var section in listing.Sections)
        {
            // The listing's own config (S/2 in the repository's copy); shapes only, so META costs nothing.
            using var model = new Models.UViT.UViT(UViTConfig.FromReferenceArgs(listing.Args, section.Fusion.ToString()), META);
            var ours = model.state_dict().Select(kv => (kv.Key, Shape: kv.Value.shape)).ToList();
            Assert.Equal(section.Tensors, section.Entries.Count);
            Assert.Equal(section.Values, section.Entries.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b)));
            var missing = section.Entries.Select(e => e.Name).Except(ours.Select(o => o.Key)).ToList();
            var unexpected = ours.Select(o => o.Key).Except(section.Entries.Select(e => e.Name)).ToList();
            Assert.True(missing.Count == 0 && unexpected.Count == 0,
                $"{section.Fusion}: missing [{string.Join(", ", missing.Take(5))}], unexpected [{string.Join(", ", unexpected.Take(5))}]");
            for (int i = 0; i < ours.Count; i++)
            {
                Assert.Equal(section.Entries[i].Name, ours[i].Key);
                Assert.True(section.Entries[i].Shape.SequenceEqual(ours[i].Shape),
                    $"{section.Fusion} {ours[i].Key}: ours [{string.Join(", ", ours[i].Shape)}], reference [{string.Join(", ", section.Entries[i].Shape)}]");
            }
            Assert.Equal(section.Values, model.ParameterCount());
        }
    }

    [Fact]
    public void Optional_modules_take_reference_names()
    {
        var config = UViTConfig.Tiny(UViTFusion.IntermediateConcat(1, 1)) with { MlpTimeEmbed = true, Conv = false, Skip = false };
        using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
        var keys = model.state_dict().Keys.ToHashSet();
        Assert.Contains("time_embed.0.weight", keys);
        Assert.Contains("time_embed.2.bias", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("final_layer", StringComparison.Ordinal) || k.Contains("skip_linear", StringComparison.Ordinal));
        using var eps = model.call(zeros(2, 4, 8, 8), tensor(new float[] { 3, 500 }), zeros(2, 8, 32));
        Assert.Equal([2L, 4, 8, 8], eps.shape);
    }

    [Fact]
    public void Initialisation_follows_the_reference()
    {
        var config = UViTConfig.Tiny(UViTFusion.IntermediateCross(1, 1)) with { EmbedDim = 128, MlpTimeEmbed = true };
        using var model = TorchRandom.Seeded(7, () => new Models.UViT.UViT(config));
        AssertStd(model.pos_embed, 0.02, "pos_embed");
        foreach (var (name, m) in model.named_modules())
        {
            switch (m)
            {
                case Linear linear:
                    AssertStd(linear.weight, 0.02, name);
                    if (linear.bias is not null) Assert.Equal(0.0, linear.bias.abs().max().item<float>());
                    break;
                case LayerNorm ln:
                    Assert.True(ln.weight!.eq(1).all().item<bool>() && ln.bias!.eq(0).all().item<bool>(), name);
                    break;
                case SafeConv2d conv:   // PyTorch default: kaiming-uniform(a = √5) → U(±1/√fan_in), bias U(±1/√fan_in)
                    double bound = 1 / Math.Sqrt(conv.weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b));
                    Assert.True(conv.weight.abs().max().item<float>() <= bound, name);
                    Assert.True(conv.weight.abs().max().item<float>() > 0.8 * bound, name);   // uniform over the whole range
                    Assert.True(conv.bias!.abs().max().item<float>() <= bound, name);
                    break;
            }
        }
    }

    [Fact]
    public void Truncated_normal_cuts_at_the_bounds_with_the_truncated_spread()
    {
        using var t = TorchRandom.Seeded(11, () => TruncatedNormal.Fill(empty(200_000), mean: 0.25, std: 1, a: -0.25, b: 0.75));
        Assert.True(t.min().item<float>() >= -0.25f && t.max().item<float>() <= 0.75f);
        AssertStd(t - 0.25, 0.28368, "N(0.25, 1) cut at ±0.5 around the mean");   // √(1 − φ(½)/(Φ(½) − ½))
    }

    private static void AssertStd(Tensor t, double expected, string name)
    {
        double std = t.std().item<float>(), mean = t.mean().item<float>();
        double tolerance = 5 * expected / Math.Sqrt(t.numel());   // ~5 standard errors
        Assert.True(Math.Abs(std - expected) < tolerance, $"{name}: std {std:G4}, expected {expected}");
        Assert.True(Math.Abs(mean) < 5 * expected / Math.Sqrt(t.numel()), $"{name}: mean {mean:G4}");
    }
}

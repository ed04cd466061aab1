using Fusion.Models;
using Fusion.Models.Vae;
using Fusion.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Tests.Vae;

public class AutoencoderKLTests
{
    private static AutoencoderKLConfig FixtureConfig() =>
        AutoencoderKLConfig.FromLdmHyperparameters(SafetensorsMetadata.Read(Fixtures.Path("vae", "weights.safetensors")));

    // Attention at 16² exercises the per-level attention lists too (KL-f8 has none).
    private static AutoencoderKLConfig Tiny() => new(32, [1, 2], 1, [16], Resolution: 32);

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    [Fact]
    public void MatchesTheReferenceMomentsAndDecoderOutput()
    {
        // Config, scale factor included, from the file's metadata: Decode divides by it, so a wrong one fails here.
        using var vae = AutoencoderKL.Load(Fixtures.Path("vae", "weights.safetensors"), FixtureConfig());
        var io = Safetensors.LoadStateDict(Fixtures.Path("vae", "io.safetensors"));
        using var _ = no_grad();
        using var moments = vae.EncodeMoments(io["x"]);
        using var decoded = vae.Decode(io["z"]);
        Parity.AssertClose(moments, io["moments"], 1e-5, "moments");
        Parity.AssertClose(decoded, io["decoded"], 1e-5, "decoded");
        foreach (var t in io.Values) t.Dispose();
    }

    [Fact]
    public void KlF8HasTheLdmKeysAndShapes()
    {
        using var vae = TorchRandom.Unseeded(() => new AutoencoderKL(AutoencoderKLConfig.KlF8()));
        var sd = vae.state_dict();
        Assert.Equal(248, sd.Count);
        Assert.Equal(83_653_863L, sd.Values.Sum(t => t.numel()));
        Assert.Equal(new long[] { 256, 128, 1, 1 }, sd["encoder.down.1.block.0.nin_shortcut.weight"].shape);
        Assert.Equal(new long[] { 128, 256, 1, 1 }, sd["decoder.up.0.block.0.nin_shortcut.weight"].shape);
        Assert.Equal(new long[] { 512, 512, 1, 1 }, sd["encoder.mid.attn_1.proj_out.weight"].shape);
        Assert.Equal(new long[] { 8, 512, 3, 3 }, sd["encoder.conv_out.weight"].shape);
        Assert.Contains("decoder.up.3.upsample.conv.weight", sd.Keys);
        Assert.DoesNotContain("decoder.up.0.upsample.conv.weight", sd.Keys);
        Assert.DoesNotContain("encoder.down.3.downsample.conv.weight", sd.Keys);
        Assert.Equal(0.23010, vae.Config.ScaleFactor);
        Assert.All(sd.Where(kv => kv.Key.Contains("norm")), kv =>
            Assert.True(kv.Value.eq(kv.Key.EndsWith("weight") ? 1 : 0).all().item<bool>(), kv.Key)); // GroupNorm starts at identity
        Assert.Equal("decoder.up_blocks.0.resnets.2.conv1.weight", VaeKeys.ToDiffusersName("decoder.up.3.block.2.conv1.weight", 4));
        Assert.Equal("decoder.up_blocks.2.upsamplers.0.conv.bias", VaeKeys.ToDiffusersName("decoder.up.1.upsample.conv.bias", 4));
        Assert.Equal("encoder.down_blocks.1.resnets.0.conv_shortcut.weight", VaeKeys.ToDiffusersName("encoder.down.1.block.0.nin_shortcut.weight", 4));
        Assert.Equal("encoder.mid_block.attentions.0.to_out.0.weight", VaeKeys.ToDiffusersName("encoder.mid.attn_1.proj_out.weight", 4));
        Assert.Equal("decoder.mid_block.attentions.0.query.bias", VaeKeys.ToDiffusersName("decoder.mid.attn_1.q.bias", 4, legacyAttentionNames: true));
        Assert.Equal("decoder.mid_block.resnets.1.norm2.weight", VaeKeys.ToDiffusersName("decoder.mid.block_2.norm2.weight", 4));
        Assert.Equal("encoder.conv_norm_out.bias", VaeKeys.ToDiffusersName("encoder.norm_out.bias", 4));
        Assert.Equal("quant_conv.weight", VaeKeys.ToDiffusersName("quant_conv.weight", 4));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DiffusersNamesMapBothWaysAndLoad(bool legacyAttentionNames)
    {
        var config = Tiny();
        using var a = TorchRandom.Seeded(11, () => new AutoencoderKL(config));
        a.eval();
        var ours = a.state_dict();
        var diffusers = VaeKeys.ToDiffusers(ours, config, legacyAttentionNames);
        Assert.Equal(ours.Count, diffusers.Count);
        Assert.Contains("decoder.up_blocks.0.attentions.0.group_norm.weight", diffusers.Keys); // up[1] works at 16²
        Assert.Contains("encoder.down_blocks.0.downsamplers.0.conv.weight", diffusers.Keys);
        Assert.Equal(2, diffusers[legacyAttentionNames ? "encoder.mid_block.attentions.0.key.weight" : "encoder.mid_block.attentions.0.to_k.weight"].dim());
        Assert.DoesNotContain(diffusers.Keys, k => k.Contains(".down.") || k.Contains(".up.") || k.Contains("nin_shortcut") || k.Contains("norm_out.") && !k.Contains("conv_norm_out"));
        var back = VaeKeys.FromDiffusers(diffusers, config);
        Assert.Equal(ours.Keys.Order(), back.Keys.Order());
        Assert.All(ours, kv => Assert.True(Same(kv.Value, back[kv.Key]), kv.Key));

        using var b = TorchRandom.Unseeded(() => new AutoencoderKL(config));
        b.LoadWeights(diffusers, "diffusion_pytorch_model.safetensors");
        b.eval();
        using var _ = no_grad();
        using var g = new Generator(11);
        using var x = rand([1, 3, 32, 32], generator: g).mul(2).sub(1);
        using var ya = a.forward(x);
        using var yb = b.forward(x);
        Assert.True(Same(ya, yb));
    }

    [Fact]
    public void LdmCheckpointsLoadWithTheirExtrasIgnored()
    {
        var config = Tiny();
        using var a = TorchRandom.Seeded(12, () => new AutoencoderKL(config));
        using var dir = new TempDir();
        a.save_py(dir["autoencoder_kl.pth"]);
        using var fromPth = AutoencoderKL.Load(dir["autoencoder_kl.pth"], config);
        Assert.True(Same(a.state_dict()["decoder.conv_out.weight"], fromPth.state_dict()["decoder.conv_out.weight"]));

        // LDM model.ckpt carries the training loss; SD checkpoints nest the VAE under first_stage_model.
        var withLoss = a.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        withLoss["loss.discriminator.main.0.weight"] = zeros(2);
        withLoss["loss.logvar"] = zeros(1);
        TorchRandom.Unseeded(() => new AutoencoderKL(config)).LoadWeights(withLoss, "model.ckpt");
        var sd = a.state_dict().ToDictionary(kv => "first_stage_model." + kv.Key, kv => kv.Value);
        sd["model.diffusion_model.input_blocks.0.0.weight"] = zeros(3);
        sd["cond_stage_model.transformer.text_model.final_layer_norm.weight"] = zeros(3);
        using var b = TorchRandom.Unseeded(() => new AutoencoderKL(config));
        b.LoadWeights(sd, "sd-v1-4.ckpt");
        Assert.True(Same(a.state_dict()["encoder.conv_in.weight"], b.state_dict()["encoder.conv_in.weight"]));

        var broken = a.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        broken.Remove("decoder.up.1.attn.0.q.bias");
        broken["quant_conv.weight"] = zeros(8, 8, 3, 3);
        broken["discriminator.x"] = zeros(1);
        var ex = Assert.Throws<InvalidDataException>(() => TorchRandom.Unseeded(() => new AutoencoderKL(config)).LoadWeights(broken, "bad.pth"));
        Assert.Contains("missing key 'decoder.up.1.attn.0.q.bias'", ex.Message);
        Assert.Contains("key 'quant_conv.weight': checkpoint shape [8, 8, 3, 3], model shape [8, 8, 1, 1]", ex.Message);
        Assert.Contains("unexpected key 'discriminator.x'", ex.Message);
    }

    [Fact]
    public void SamplingUsesTheGivenGeneratorAndClampsTheLogVariance()
    {
        var config = Tiny() with { ScaleFactor = 0.5 };
        using var vae = TorchRandom.Unseeded(() => new AutoencoderKL(config));
        using var moments = cat([full(1, 4, 2, 2, 1.0), full(1, 2, 2, 2, 2.0), full(1, 2, 2, 2, -100.0)], 1);
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var z = vae.Sample(moments, g1);
        using var eps = randn([1, 4, 2, 2], generator: g2);
        using var std = cat([full(1, 2, 2, 2, Math.Exp(1.0)), full(1, 2, 2, 2, Math.Exp(-15.0))], 1);
        using var expected = (1.0 + std * eps) * 0.5;
        Assert.True(z.allclose(expected, rtol: 1e-6, atol: 1e-7));
        using var mean = vae.ScaledMean(moments);
        Assert.True(mean.allclose(full(1, 4, 2, 2, 0.5)));
        using var x = zeros(1, 3, 31, 32);
        Assert.Throws<ArgumentException>(() => vae.EncodeMoments(x));
        using var latents = vae.Encode(zeros(2, 3, 32, 32), g1);
        Assert.Equal(new long[] { 2, 4, 16, 16 }, latents.shape);
        using var _ = no_grad();
        using var decoded = vae.Decode(latents);
        Assert.Equal(new long[] { 2, 3, 32, 32 }, decoded.shape);
    }
}

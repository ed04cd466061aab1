using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Inception;
using Fusion.Models.Layers;
using Fusion.Models.UViT;
using Fusion.Models.Vae;
using Fusion.Tests.UViT;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Numerics;

/// <summary>
/// libtorch 2.10's oneDNN convolutions read uninitialised memory when a channel count is not a multiple of their block
/// (docs/onednn-conv-bug.md). These checks compare every convolution shape of every network the project runs, and one
/// training step of each tiny U-ViT, against float64 after "poisoning" the allocator with NaN-filled blocks, so a kernel
/// that reads memory it never wrote shows up as NaN or garbage on any x86 CPU — AVX2-only ones included — instead of
/// passing by luck. Without the remedy in <see cref="ConvKernels"/> (FUSION_CPU_CONV=native) they fail.
/// </summary>
public class ConvolutionNumericsTests
{
    /// <summary>Every distinct convolution of the project's networks, read off the modules themselves.</summary>
    public static TheoryData<ConvShape> Shapes()
    {
        var found = new Dictionary<(long, long, long, long, long, long, long, long), ConvShape>();
        void Scan(string network, nn.Module model)
        {
            foreach (var (name, m) in model.named_modules())
            {
                Assert.False(m is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Conv1d or TorchSharp.Modules.Conv3d or TorchSharp.Modules.ConvTranspose2d,
                    $"{network}.{name} is a libtorch convolution module; use SafeConv2d so it avoids the faulty kernels");
                if (m is not SafeConv2d c) continue;
                var key = (c.InChannels, c.OutChannels, c.weight.shape[2], c.weight.shape[3], c.Stride.H, c.Stride.W, c.Padding.H, c.Padding.W);
                found.TryAdd(key, new ConvShape(key.Item1, key.Item2, key.Item3, key.Item4, key.Item5, key.Item6, key.Item7, key.Item8, $"{network}.{name}"));
            }
            model.Dispose();
        }
        foreach (var fusion in UViTBehaviourTests.TinyFusions)
        {
            Scan($"uvit-tiny[{fusion}]", TorchRandom.Unseeded(() => new Models.UViT.UViT(UViTConfig.Tiny(fusion))));
            Scan($"uvit-s2[{fusion}]", TorchRandom.Unseeded(() => new Models.UViT.UViT(UViTConfig.SmallS2(fusion), META)));
        }
        Scan("uvit-shapes", TorchRandom.Unseeded(() => new Models.UViT.UViT(UViTConfig.Tiny(UViTFusion.EarlyConcat) with { InChannels = 3, ImageSize = 32, PatchSize = 4 })));
        Scan("vae-kl-f8", TorchRandom.Unseeded(() => new AutoencoderKL(AutoencoderKLConfig.KlF8())));
        Scan("fid-inception", TorchRandom.Unseeded(() => new FidInceptionV3()));
        Scan("clip", TorchRandom.Unseeded(() => new ClipModel(ClipConfig.ViTL14 with { Text = new(64, 1, 1, 256), Vision = new(64, 1, 1, 256) })));
        var data = new TheoryData<ConvShape>();
        foreach (var s in found.Values) data.Add(s);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_network_convolution_matches_float64_forward_and_backward_with_a_poisoned_allocator(ConvShape c)
    {
        using var g = new Generator(17);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
            foreach (var (what, error) in ConvProbe.Check(c, dtype, g).Parts)
                Assert.True(error <= ConvProbe.Tolerance(dtype), $"{c} in {dtype}: {what} is off float64 by {error:G3} of its largest value (allowed {ConvProbe.Tolerance(dtype):G2})");
    }

    [Fact]
    public void A_training_step_of_every_tiny_uvit_has_the_gradients_of_float64()
    {
        foreach (var fusion in UViTBehaviourTests.TinyFusions)
        {
            using var scope = NewDisposeScope();
            var config = UViTConfig.Tiny(fusion);
            using var model = TorchRandom.Seeded(5, () => new Models.UViT.UViT(config));
            using var reference = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
            reference.load_state_dict(model.state_dict());
            reference.to(ScalarType.Float64);
            var g = new Generator(23);
            var x = randn([4, config.InChannels, config.ImageSize, config.ImageSize], generator: g);
            var t = tensor(new float[] { 1, 250, 600, 999 });
            var ctx = randn([4, config.NumClipTokens, config.ClipDim], generator: g);
            var target = randn(x.shape, generator: g);

            ConvProbe.PoisonAllocator();
            model.call(x, t, ctx).sub(target).square().mean().backward();
            ConvProbe.PoisonAllocator();
            reference.call(x.to(ScalarType.Float64), t, ctx.to(ScalarType.Float64)).sub(target.to(ScalarType.Float64)).square().mean().backward();

            var references = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
            foreach (var (name, p) in model.named_parameters())
            {
                var grad = p.grad ?? throw new Xunit.Sdk.XunitException($"{fusion}: '{name}' got no gradient");
                Assert.True(grad.isfinite().all().item<bool>(), $"{fusion}: gradient of '{name}' is not finite");
                var error = ConvProbe.RelativeError(grad, references[name]);
                // float32 against float64 through the whole network: ~1e-6; a faulty kernel: O(1) in every upstream parameter.
                Assert.True(error <= 1e-3, $"{fusion}: gradient of '{name}' is off float64 by {error:G3} of its largest value");
            }
        }
    }

    [Fact]
    public void The_remedy_is_a_fingerprint_fact_and_only_reroutes_small_channel_cpu_convolutions()
    {
        Assert.Equal(CpuConvolution.Im2ColBelowBlock, ConvKernels.Cpu);
        Assert.Equal("im2col-below-16-except-fp32-inference", ConvKernels.Fact);
        Assert.Contains(TorchEnvironment.Facts(), f => f is ("cpu.conv", "im2col-below-16-except-fp32-inference"));
        Assert.True(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.Float32, 3, 3, inputGradient: true));
        Assert.True(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.BFloat16, 3, 64, inputGradient: false));
        Assert.True(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.BFloat16, 128, 8, inputGradient: false));
        Assert.False(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.Float32, 128, 3, inputGradient: false));   // fp32 inference
        Assert.False(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.Float64, 3, 3, inputGradient: true));
        Assert.False(ConvKernels.UsesIm2Col(DeviceType.CPU, ScalarType.BFloat16, 32, 64, inputGradient: true));
        Assert.False(ConvKernels.UsesIm2Col(DeviceType.CUDA, ScalarType.BFloat16, 3, 3, inputGradient: true));
    }

    [Fact]
    public void Large_batches_are_unfolded_in_chunks_with_the_same_result()
    {
        // 128→3, 3×3 at 96×96: 1152·9216 floats = 42 MB of columns per image, so 8 images take two chunks.
        var g = new Generator(3);
        using var x = randn([8, 128, 96, 96], generator: g).requires_grad_();   // a float32 input gradient takes the im2col path
        using var w = randn([3, 128, 3, 3], generator: g) * 0.03;
        using var b = randn([3], generator: g);
        using var chunked = ConvKernels.Conv2d(x, w, b, (1, 1), (1, 1));
        using var expected = nn.functional.conv2d(x.to(ScalarType.Float64), w.to(ScalarType.Float64), b.to(ScalarType.Float64), padding: [1, 1]);
        Assert.True(ConvProbe.RelativeError(chunked, expected) < 1e-5);
    }
}

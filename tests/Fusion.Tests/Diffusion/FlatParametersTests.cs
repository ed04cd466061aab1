using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Reproduction.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

/// <summary>
/// The flat parameter buffer behind AdamW and the EMA: the module keeps computing with its own parameter objects, which
/// now live in one buffer, and the one-buffer updates give the same bits as the per-tensor loop they replace.
/// </summary>
public class FlatParametersTests
{
    private static Fusion.Models.UViT.UViT TinyUViT(long seed) => TorchRandom.Seeded(seed, () => new Fusion.Models.UViT.UViT(
        new UViTParams { Variant = FusionVariant.IntermediateCross, C = 1, V = 1, PatchSize = 2, EmbedDim = 16, Depth = 2, NumHeads = 2 }.ToConfig(3, 8, 4, 8)));

    private static Dictionary<string, Tensor> Copy(nn.Module m) => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    [Fact]
    public void ParametersBecomeViewsOfOneBufferWithTheirValuesAndBackwardAccumulatesIntoOneGradientBuffer()
    {
        using var net = TinyUViT(3);
        var before = Copy(net);
        using var flat = FlatParameters.Of(net);
        // Every slice starts on a 64-byte boundary, like a tensor of its own, and a bf16 copy gets the same layout.
        Assert.All(flat.Entries, e => Assert.Equal(0, e.Offset * 4 % 64));
        Assert.InRange(flat.Count, net.parameters().Sum(p => p.numel()), net.parameters().Sum(p => p.numel()) + 32 * flat.Entries.Count);
        using (var half = TinyUViT(3).to(ScalarType.BFloat16))
        using (var halfFlat = FlatParameters.Of(half))
            halfFlat.CheckSameLayout(flat, "bf16 copy");
        foreach (var (k, v) in net.state_dict()) Assert.True(SamplerTests.Same(before[k], v), $"'{k}' changed by flattening");

        // Writing the buffer writes the parameters (they share storage).
        using (no_grad()) flat.Values.PlusInPlace(1.0);
        foreach (var (k, v) in net.state_dict()) Assert.True(SamplerTests.Same(before[k].Plus(1.0), v), $"'{k}' is not a view of the buffer");
        using (no_grad()) flat.Values.PlusInPlace(-1.0);

        using var g = new Generator(4);
        using var x = randn([2, 3, 8, 8], generator: g);
        using var t = tensor(new float[] { 10, 500 });
        using var ctx = randn([2, 4, 8], generator: g);
        net.call(x, t, ctx).square().mean().backward();
        var firstGrads = net.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        flat.AdoptGradients();
        foreach (var (name, p) in net.named_parameters())
            Assert.True(SamplerTests.Same(firstGrads[name], flat.Named(flat.Gradients!)[name]), $"gradient of '{name}' not adopted");

        // Later passes accumulate into the buffer in place: zeroed, one pass gives the same gradients again.
        flat.ZeroGradients();
        Assert.Equal(0, flat.Gradients!.abs().sum().item<float>());
        net.call(x, t, ctx).square().mean().backward();
        foreach (var (name, p) in net.named_parameters())
        {
            Assert.True(SamplerTests.Same(firstGrads[name], flat.Named(flat.Gradients!)[name]), $"'{name}': gradient did not land in the buffer");
            Assert.True(SamplerTests.Same(firstGrads[name], p.grad!), $"'{name}': .grad is not the buffer's view");
        }
    }

    [Fact]
    public void AdoptGradientsNamesAParameterWithoutAGradient()
    {
        var a = zeros([3]).requires_grad_();
        var unused = zeros([2]).requires_grad_();
        using var flat = FlatParameters.Of([("a", a), ("unused", unused)]);
        (a * 2).sum().backward();
        var e = Assert.Throws<InvalidOperationException>(flat.AdoptGradients);
        Assert.Contains("'unused' received no gradient", e.Message);
    }

    [Fact]
    public void FlatAdamWAndEmaComputeTheSameBitsAsThePerTensorLoop()
    {
        // The per-tensor reference: PyTorch's single-tensor AdamW, written out over each parameter (the previous code).
        using var reference = TinyUViT(5);
        using var flatNet = TinyUViT(5);
        using var ema = TinyUViT(6);
        using var refEma = TinyUViT(6);
        using var flat = FlatParameters.Of(flatNet);
        using var flatEma = FlatParameters.Of(ema);
        var refParams = reference.named_parameters().Select(p => (Tensor)p.parameter).ToArray();
        var m = refParams.Select(p => zeros_like(p)).ToArray();
        var v = refParams.Select(p => zeros_like(p)).ToArray();
        using var adam = new AdamW(flat, 0.9, 0.99, 1e-8, 0.03);
        using var g = new Generator(8);
        for (var step = 1; step <= 4; step++)
        {
            var lr = 1e-3 * step;
            var grads = refParams.Select(p => randn(p.shape, generator: g)).ToArray();
            adam.Step(flat.Pack(grads), lr);
            using (no_grad())
            {
                var bias1 = 1 - Math.Pow(0.9, step);
                var bias2Sqrt = Math.Pow(1 - Math.Pow(0.99, step), 0.5);
                using Scalar decay = (1 - lr * 0.03).ToScalar(), beta2 = 0.99.ToScalar(), oneMinusBeta2 = (1 - 0.99).ToScalar(),
                    bias2 = bias2Sqrt.ToScalar(), eps = 1e-8.ToScalar(), one = 1.ToScalar(), minusStep = (-(lr / bias1)).ToScalar();
                using var oneMinusBeta1 = tensor(1 - 0.9);
                for (var i = 0; i < refParams.Length; i++)
                {
                    refParams[i].mul_(decay);
                    m[i].lerp_(grads[i], oneMinusBeta1);
                    v[i].mul_(beta2).addcmul_(grads[i], grads[i], oneMinusBeta2);
                    using var denom = v[i].sqrt().div(bias2).add_(eps, one);
                    refParams[i].addcdiv_(m[i], denom, minusStep);
                }
            }
            Ema.Update(flatEma, flat, 0.9);
            Ema.Update(refEma, reference, 0.9);
        }
        foreach (var (k, want) in reference.state_dict()) Assert.True(SamplerTests.Same(want, flatNet.state_dict()[k]), $"AdamW: '{k}' differs");
        var moments = adam.StateTensors();
        var names = reference.named_parameters().Select(p => p.name).ToArray();
        for (var i = 0; i < names.Length; i++)
        {
            Assert.True(SamplerTests.Same(m[i], moments[names[i] + ".exp_avg"]), $"exp_avg of '{names[i]}' differs");
            Assert.True(SamplerTests.Same(v[i], moments[names[i] + ".exp_avg_sq"]), $"exp_avg_sq of '{names[i]}' differs");
        }
        foreach (var (k, want) in refEma.state_dict()) Assert.True(SamplerTests.Same(want, ema.state_dict()[k]), $"EMA: '{k}' differs");
    }

    [Fact]
    public void OneBufferHoldsOneDtypeAndEmaNeedsTheSameLayout()
    {
        var e = Assert.Throws<ArgumentException>(() => FlatParameters.Of([("a", zeros([2])), ("b", zeros([2], ScalarType.Float64))]));
        Assert.Contains("'b'", e.Message);
        using var one = FlatParameters.Of([("a", zeros([2]))]);
        using var other = FlatParameters.Of([("a", zeros([3]))]);
        var layout = Assert.Throws<ArgumentException>(() => Ema.Update(one, other, 0.5));
        Assert.Contains("'a' [2] at 0", layout.Message);
    }
}

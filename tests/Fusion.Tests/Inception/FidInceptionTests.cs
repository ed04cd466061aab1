using Fusion.Models;
using Fusion.Models.Inception;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Tests.Inception;

public class FidInceptionTests
{
    [Fact]
    public void StateDictHasThePytorchFidKeysAndShapes()
    {
        using var model = TorchRandom.Unseeded(() => new FidInceptionV3());
        var sd = model.state_dict();
        // 94 BasicConv2d × 5 tensors + fc.weight + fc.bias, plus the 94 BatchNorm counters TorchSharp registers.
        Assert.Equal(472, sd.Keys.Count(k => !k.EndsWith("num_batches_tracked")));
        Assert.Equal(94, sd.Keys.Count(k => k.EndsWith("num_batches_tracked")));
        Assert.Equal([32L, 3, 3, 3], sd["Conv2d_1a_3x3.conv.weight"].shape);
        Assert.Equal([192L, 2048, 1, 1], sd["Mixed_7c.branch_pool.conv.weight"].shape);
        Assert.Equal([384L], sd["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape);
        Assert.Equal([128L, 128, 1, 7], sd["Mixed_6b.branch7x7_2.conv.weight"].shape);
        Assert.Equal([192L, 128, 7, 1], sd["Mixed_6b.branch7x7_3.conv.weight"].shape);
        Assert.Equal([1008L, 2048], sd["fc.weight"].shape);
        Assert.Equal([1008L], sd["fc.bias"].shape);
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("AuxLogits"));
    }

    [Fact]
    public void Pool3MatchesPytorchFidWithFormulaWeights()
    {
        var io = Safetensors.LoadStateDict(Fixtures.Path("fid-inception", "io.safetensors"));
        using var model = TorchRandom.Unseeded(() => new FidInceptionV3());   // its default draws are overwritten next
        StateDict.LoadStrict(model, FormulaWeights.For(model), "formula weights");
        using var _ = no_grad();
        using var features = model.Features(io["images"]);
        Parity.AssertClose(features, io["pool3"], 1e-4, "pool3");   // 1e-4: the README's bound for the deep Inception in float32
        foreach (var t in io.Values) t.Dispose();
    }

    [Fact]
    public void FeaturesAreBatchIndependentAndAcceptAnySize()
    {
        using var model = TorchRandom.Unseeded(() => new FidInceptionV3()); // default initialisation: fast, and enough for this property
        var gen = new Generator(7);
        using var images = rand([2, 3, 40, 52], generator: gen);
        using var both = model.Features(images);
        using var second = model.Features(images[1..2]);
        Assert.Equal([2L, 2048], both.shape);
        Assert.True(both[1..2].allclose(second, rtol: 1e-4, atol: 1e-5));
    }
}

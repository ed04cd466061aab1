using Fusion.Models;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Tests.Weights;

public class StateDictTests
{
    [Fact]
    public void SafetensorsRoundTripLoadsStrictly()
    {
        using var dir = new TempDir();
        var a = TorchRandom.Unseeded(() => nn.Linear(3, 2));
        a.save_safetensors(dir["a.safetensors"]);
        var b = TorchRandom.Unseeded(() => nn.Linear(3, 2));
        StateDict.LoadStrict(b, dir["a.safetensors"]);
        Assert.True(a.weight!.equal(b.weight!).all().item<bool>());
        Assert.True(a.bias!.equal(b.bias!).all().item<bool>());
    }

    [Fact]
    public void ZipPickleRoundTripLoadsStrictly()
    {
        using var dir = new TempDir();
        var a = TorchRandom.Unseeded(() => nn.Linear(4, 4));
        a.save_py(dir["a.pth"]);
        var b = TorchRandom.Unseeded(() => nn.Linear(4, 4));
        StateDict.LoadStrict(b, dir["a.pth"]);
        Assert.True(a.weight!.equal(b.weight!).all().item<bool>());
    }

    [Fact]
    public void WrongShapeMissingAndUnexpectedKeysAreNamed()
    {
        var m = TorchRandom.Unseeded(() => nn.Linear(3, 2));
        var sd = new Dictionary<string, Tensor> { ["weight"] = zeros(2, 4), ["extra"] = zeros(1) };
        var ex = Assert.Throws<InvalidDataException>(() => StateDict.LoadStrict(m, sd, "ckpt.pth"));
        Assert.Contains("key 'weight': checkpoint shape [2, 4], model shape [2, 3]", ex.Message);
        Assert.Contains("missing key 'bias'", ex.Message);
        Assert.Contains("unexpected key 'extra'", ex.Message);
        Assert.Contains("ckpt.pth", ex.Message);
    }
}

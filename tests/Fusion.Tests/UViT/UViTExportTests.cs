using Fusion.Models;
using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

public class UViTExportTests
{
    [Fact]
    public void PyTorch_export_round_trips_strictly_with_reference_names()
    {
        foreach (var fusion in UViTBehaviourTests.TinyFusions)
        {
            var config = UViTConfig.Tiny(fusion);
            using var dir = new TempDir();
            using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
            model.to(ScalarType.BFloat16);                             // exports are float32 whatever the compute dtype
            var path = dir["uvit.pth"];
            File.WriteAllBytes(path, new byte[4_000_000]);             // an older, longer file is replaced, not patched
            UViTCheckpoint.SavePyTorch(model, path);

            var read = StateDict.Read(path);
            Assert.Equal(model.state_dict().Keys.Order(), read.Keys.Order());
            Assert.All(read.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
            using var loaded = UViTCheckpoint.Load(config, path);
            foreach (var (key, value) in loaded.state_dict())
                Assert.True(value.eq(model.state_dict()[key].to_type(ScalarType.Float32)).all().item<bool>(), $"{fusion} {key}");
        }
    }

    [Fact]
    public void Loading_a_checkpoint_of_another_variant_names_the_keys()
    {
        using var dir = new TempDir();
        using var early = TorchRandom.Unseeded(() => new Models.UViT.UViT(UViTConfig.Tiny(UViTFusion.EarlyConcat)));
        UViTCheckpoint.SavePyTorch(early, dir["early.pth"]);
        var error = Assert.Throws<InvalidDataException>(() => UViTCheckpoint.Load(UViTConfig.Tiny(UViTFusion.EarlyCross), dir["early.pth"]));
        Assert.Contains("missing key 'joint_blocks.0.attn.q.weight'", error.Message);
        Assert.Contains("early.pth", error.Message);
    }
}

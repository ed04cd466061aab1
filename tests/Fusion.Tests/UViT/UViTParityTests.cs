using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>Our network computes the authors' function: strict load of reference weights, same ε to 1e-5 (float32).</summary>
public class UViTParityTests
{
    public static TheoryData<string> Variants => new(UViTFixture.Variants);

    [FixtureTheory(UViTFixture.Folder)]
    [MemberData(nameof(Variants))]
    public void Reproduces_reference_eps(string variant)
    {
        using var fixture = UViTFixture.Load(variant);
        Assert.Equal(variant, fixture.Config.Fusion.Family);
        using var model = new Models.UViT.UViT(fixture.Config);
        StateDict.LoadStrict(model, fixture.Weights, fixture.WeightsPath);
        model.eval();
        using var _ = no_grad();
        using var eps = model.call(fixture.IO["x"], fixture.IO["timesteps"], fixture.IO["context"]);
        var expected = fixture.IO["eps"];
        Assert.Equal(expected.shape, eps.shape);
        double err = (eps - expected).abs().max().item<float>(), scale = expected.abs().max().item<float>();
        Assert.True(err <= 1e-5 * scale, $"{variant}: max |ε − ε_ref| = {err:G3}, max |ε_ref| = {scale:G3}, relative {err / scale:G3} > 1e-5");
    }
}

using Fusion.Models;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>Our network computes the authors' function: strict load of reference weights, same ε to 1e-5 (float32).</summary>
public class UViTParityTests
{
    /// <summary>Every variant of the fixture set; a missing folder fails the theory with its path, an empty one with "no data".</summary>
    public static TheoryData<string> Variants => new(UViTFixture.Variants());

    [Theory]
    [MemberData(nameof(Variants))]
    public void Reproduces_reference_eps(string variant)
    {
        using var fixture = UViTFixture.Load(variant);
        // Built under the gate: its (discarded) default initialisation must not consume a parallel seeded build's draws.
        using var model = TorchRandom.Unseeded(() => new Models.UViT.UViT(fixture.Config));
        StateDict.LoadStrict(model, fixture.Weights, fixture.WeightsPath);
        model.eval();
        using var _ = no_grad();
        using var eps = model.call(fixture.IO["x"], fixture.IO["timesteps"], fixture.IO["context"]);
        Parity.AssertClose(eps, fixture.IO["eps"], 1e-5, $"{variant} ({fixture.Config.Fusion}) ε");
    }
}

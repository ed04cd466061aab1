using Fusion.Cli;
using Fusion.Models;

namespace Fusion.Tests.Reproduction;

/// <summary>
/// `--deterministic`: libtorch's global switch is really set (TorchSharp declares but does not implement it), and it is
/// a fingerprint fact. Runs in the serial collection: the switch is process-wide.
/// </summary>
[Collection(nameof(ShapesPipelineTests))]
public sealed class DeterministicModeTests
{
    [Fact]
    public void The_switch_reaches_libtorch_and_enters_the_fingerprint_facts()
    {
        Assert.False(TorchEnvironment.DeterministicAlgorithms);
        try
        {
            TorchEnvironment.UseDeterministicAlgorithms();
            Assert.True(TorchEnvironment.DeterministicAlgorithms);
            using var x = TorchSharp.torch.ones(3, 3);
            Assert.Equal(9f, x.sum().item<float>());   // CPU kernels still run
        }
        finally { TorchEnvironment.DeterministicAlgorithms = false; }
        Assert.False(TorchEnvironment.DeterministicAlgorithms);

        Assert.Equal("true", new TorchFacts("cpu", "float32", deterministic: true).GetFacts().Values["deterministic"]);
        Assert.False(new TorchFacts("cpu", "float32").GetFacts().Values.ContainsKey("deterministic"));
    }
}

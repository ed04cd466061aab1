using static TorchSharp.torch;

namespace Fusion.Tests.Support;

/// <summary>How the golden-fixture tests compare a port's output with the reference's.</summary>
public static class Parity
{
    /// <summary>max |actual − expected| / max |expected|, in float64.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var diff = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs().max();
        using var scale = expected.to(ScalarType.Float64).abs().max();
        return diff.item<double>() / Math.Max(scale.item<double>(), 1e-30);
    }

    /// <summary>Same shape (no broadcasting) and <see cref="RelativeError"/> ≤ <paramref name="tolerance"/>.</summary>
    public static void AssertClose(Tensor actual, Tensor expected, double tolerance, string what)
    {
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}], reference [{string.Join(", ", expected.shape)}]");
        var error = RelativeError(actual, expected);
        Assert.True(error <= tolerance, $"{what}: max |Δ| / max |reference| = {error:E2} > {tolerance:E0}");
    }
}

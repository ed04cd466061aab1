using Fusion.Models;
using static TorchSharp.torch;

namespace Fusion.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void NativeBackendLoadsAndComputes()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var b = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, b.data<float>().ToArray());
        Assert.StartsWith("2.", TorchEnvironment.LibTorchVersion);
    }

    [Fact]
    public void UnknownDeviceNameIsRejectedWithTheName()
    {
        var ex = Assert.Throws<ArgumentException>(() => TorchEnvironment.ResolveDevice("tpu"));
        Assert.Contains("tpu", ex.Message);
    }
}

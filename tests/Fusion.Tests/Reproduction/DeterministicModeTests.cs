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

    [Fact]
    public void Cpu_fingerprints_carry_the_kernel_family_the_thread_count_and_the_convolution_policy()
    {
        // The README promises: same facts, same bytes. These are the facts CPU bytes depend on besides the versions.
        var facts = new TorchFacts("cpu", "float32").GetFacts().Values;
        Assert.Equal(TorchEnvironment.CpuIsa, facts["cpu.isa"]);
        Assert.Equal(TorchSharp.torch.get_num_threads().ToString(), facts["threads"]);
        Assert.Equal(ConvKernels.Fact, facts["cpu.conv"]);
        Assert.Contains(TorchEnvironment.CpuIsa, new[] { "baseline", "sse41", "avx2", "avx512_core", "avx512_core_bf16", "avx512_core_amx" });
        if (OperatingSystem.IsLinux() && File.ReadAllText("/proc/cpuinfo").Contains(" avx2") && Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") is null)
            Assert.NotEqual("baseline", TorchEnvironment.CpuIsa);
    }

    [Fact]
    public void Dtype_auto_resolves_to_bf16_only_where_the_cpu_has_bf16_dot_products_and_the_fact_is_the_resolved_dtype()
    {
        var facts = new TorchFacts("cpu", "auto").GetFacts().Values;
        var flags = OperatingSystem.IsLinux() ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags")) ?? "" : "";
        var native = flags.Split(' ').Contains("avx512_bf16") && Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA") is null;
        Assert.Equal(native ? "bfloat16" : "float32", facts["dtype"]);
        Assert.Equal(native ? "bfloat16" : "float32", TorchEnvironment.FastTrainingDtype("cpu"));
        Assert.Equal("bfloat16", TorchEnvironment.FastTrainingDtype("cuda"));
        // An explicit dtype is kept as given, and an unknown one is named.
        Assert.Equal("float32", new TorchFacts("cpu", "float32").GetFacts().Values["dtype"]);
        var e = Assert.ThrowsAny<Exception>(() => new TorchFacts("cpu", "bf16").GetFacts());
        Assert.Contains("'bf16'", e.Message);
    }
}

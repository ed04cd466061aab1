using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Fusion.Models;

/// <summary>Facts of the torch runtime that can change numerical results; they enter every node's fingerprint.</summary>
public static class TorchEnvironment
{
    public static string TorchSharpVersion =>
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    /// <summary>The libtorch version the native backend reports (e.g. "2.10.0").</summary>
    public static string LibTorchVersion => TorchSharp.torch.__version__;

    public static bool CudaAvailable => cuda.is_available();

    /// <summary>Resolves "auto" to cuda when available, else cpu; validates explicit names.</summary>
    public static Device ResolveDevice(string name) =>
        !IsDeviceName(name) ? throw new ArgumentException($"unknown device '{name}' (expected {DeviceNames})")
        : name == "auto" ? (CudaAvailable ? CUDA : CPU)
        : name == "cpu" ? CPU
        : CudaAvailable ? new Device(name) : throw CudaUnavailableException.For(name);

    /// <summary>The device names <see cref="ResolveDevice"/> takes, in words.</summary>
    public const string DeviceNames = "cpu, cuda, cuda:N or auto";

    /// <summary>cpu, cuda, cuda:N or auto: checkable without loading libtorch.</summary>
    public static bool IsDeviceName(string name) =>
        name is "cpu" or "cuda" or "auto" || (name.StartsWith("cuda:", StringComparison.Ordinal) && name.Length > 5 && name[5..].All(char.IsAsciiDigit));

    /// <summary>
    /// Whether the loaded libtorch was built with CUDA (whatever the GPUs): libtorch_cuda is mapped into the process, or
    /// lies beside the application (the TorchSharp-cuda packages put it there).
    /// </summary>
    public static bool LibTorchHasCuda
    {
        get
        {
            _ = CudaAvailable;   // loads libtorch, and libtorch_cuda where there is one
            if (OperatingSystem.IsLinux() && File.ReadLines("/proc/self/maps").Any(l => l.Contains("libtorch_cuda", StringComparison.Ordinal))) return true;
            var app = AppContext.BaseDirectory;
            return new[] { app, Path.Combine(app, "runtimes", "linux-x64", "native") }.Any(dir => File.Exists(Path.Combine(dir, "libtorch_cuda.so")));
        }
    }

    /// <summary>
    /// Deterministic kernels: CUDA's atomics-based reductions (e.g. the backward of index and scatter ops) and cuBLAS's
    /// split-K workspaces make two GPU runs differ in the last bits, and training amplifies that. Call before any CUDA
    /// work. CPU kernels here are deterministic already for a given kernel family and thread count.
    /// </summary>
    public static void UseDeterministicAlgorithms()
    {
        // cuBLAS reads this from the C environment when it creates its first handle (.NET's Environment does not write there).
        if (OperatingSystem.IsLinux() && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CUBLAS_WORKSPACE_CONFIG")))
            _ = SetEnv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
        DeterministicAlgorithms = true;
    }

    /// <summary>
    /// libtorch's at::globalContext().deterministicAlgorithms() (torch.use_deterministic_algorithms in PyTorch). TorchSharp
    /// 0.107 declares that API but does not implement it, so this calls libtorch's exported C++ functions directly.
    /// </summary>
    public static bool DeterministicAlgorithms
    {
        get { _ = LibTorchVersion; return GetDeterministic(GlobalContext()); }
        set { _ = LibTorchVersion; SetDeterministic(GlobalContext(), value, false); }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    // Itanium C++ ABI names: at::globalContext(), at::Context::setDeterministicAlgorithms(bool, bool), at::Context::deterministicAlgorithms() const.
    [DllImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("torch_cpu", EntryPoint = "_ZN2at7Context26setDeterministicAlgorithmsEbb")]
    private static extern void SetDeterministic(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool on,
        [MarshalAs(UnmanagedType.U1)] bool warnOnly);

    [DllImport("torch_cpu", EntryPoint = "_ZNK2at7Context23deterministicAlgorithmsEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool GetDeterministic(IntPtr context);

    /// <summary>
    /// The CPU's kernel family as oneDNN and MKL dispatch on it (avx512_core_amx, avx512_core_bf16, avx512_core, avx2,
    /// sse41 or baseline), capped by <c>DNNL_MAX_CPU_ISA</c> when set. CPU results differ in their last bits between
    /// families (and between thread counts), so both are fingerprint facts of CPU runs.
    /// </summary>
    public static string CpuIsa { get; } = DetectCpuIsa();

    private static string DetectCpuIsa()
    {
        string[] order = ["baseline", "sse41", "avx2", "avx512_core", "avx512_core_bf16", "avx512_core_amx"];
        var flags = OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal))?.Split(' ').ToHashSet() ?? []
            : [];
        var isa = flags.Contains("amx_bf16") && flags.Contains("avx512_bf16") ? order[5]
            : flags.Contains("avx512_bf16") ? order[4]
            : flags.IsSupersetOf(["avx512f", "avx512bw", "avx512vl", "avx512dq"]) ? order[3]
            : flags.Contains("avx2") && flags.Contains("fma") ? order[2]
            : flags.Contains("sse4_1") ? order[1] : order[0];
        // DNNL_MAX_CPU_ISA names oneDNN's levels (e.g. AVX2, AVX512_CORE, AVX512_CORE_BF16); it can only lower the level.
        var cap = Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA")?.ToLowerInvariant();
        var capIndex = cap is null ? -1 : Array.IndexOf(order, cap);
        return capIndex >= 0 && capIndex < Array.IndexOf(order, isa) ? order[capIndex] : isa;
    }

    /// <summary>
    /// The dtype `--dtype auto` trains in on <paramref name="deviceType"/> ("cpu" or "cuda"): bfloat16 on CUDA and on CPUs
    /// with native bf16 dot products (avx512_bf16, AMX), where oneDNN's bf16 GEMMs run ≈ 4× fp32 (docs/benchmarks.md);
    /// float32 elsewhere, since AVX2 and plain AVX-512 emulate bf16 and run it slower than fp32.
    /// </summary>
    public static string FastTrainingDtype(string deviceType) =>
        deviceType == "cuda" || CpuIsa is "avx512_core_bf16" or "avx512_core_amx" ? "bfloat16" : "float32";

    /// <summary>What CPU results depend on besides the versions: the kernel family, the thread count, the convolution policy.</summary>
    public static IReadOnlyList<(string Key, string Value)> CpuFacts() =>
        [("cpu.isa", CpuIsa), ("threads", get_num_threads().ToString()), ("cpu.conv", ConvKernels.Fact)];

    public static IReadOnlyList<(string Key, string Value)> Facts() =>
    [
        ("torchsharp", TorchSharpVersion),
        ("libtorch", LibTorchVersion),
        ("cuda.available", CudaAvailable.ToString().ToLowerInvariant()),
        ("cuda.devices", CudaAvailable ? cuda.device_count().ToString() : "0"),
        .. CpuFacts(),
        ("os", RuntimeInformation.OSDescription),
    ];
}

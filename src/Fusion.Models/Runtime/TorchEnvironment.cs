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
    public static Device ResolveDevice(string name) => name switch
    {
        "auto" => CudaAvailable ? CUDA : CPU,
        "cpu" => CPU,
        _ when name.StartsWith("cuda", StringComparison.Ordinal) => CudaAvailable
            ? new Device(name)
            : throw new InvalidOperationException($"device '{name}' requested but CUDA is not available in this build (build with -p:TorchBackend=cuda on a GPU machine)"),
        _ => throw new ArgumentException($"unknown device '{name}' (expected cpu, cuda, cuda:N or auto)"),
    };

    public static IReadOnlyList<(string Key, string Value)> Facts() =>
    [
        ("torchsharp", TorchSharpVersion),
        ("libtorch", LibTorchVersion),
        ("cuda.available", CudaAvailable.ToString().ToLowerInvariant()),
        ("cuda.devices", CudaAvailable ? cuda.device_count().ToString() : "0"),
        ("threads", get_num_threads().ToString()),
        ("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription),
    ];
}

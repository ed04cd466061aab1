namespace Fusion.Models;

/// <summary>
/// A CUDA device was asked for where there is none: this build carries the CPU libtorch, or its CUDA libtorch finds no
/// GPU. Bad input to the command that asked (exit 2), with what to do in <see cref="Hint"/>.
/// </summary>
public sealed class CudaUnavailableException(string message, string hint) : InvalidOperationException(message)
{
    public string Hint => hint;

    /// <summary>Why <paramref name="device"/> cannot be had here, told apart by whether the loaded libtorch has CUDA at all.</summary>
    public static CudaUnavailableException For(string device) => TorchEnvironment.LibTorchHasCuda
        ? new($"device '{device}': no CUDA GPU is visible (this build's libtorch has CUDA, but it found no GPU or driver)",
            "check `nvidia-smi` and CUDA_VISIBLE_DEVICES, or run with --device cpu")
        : new($"device '{device}': this build of fusion has no CUDA (it carries TorchSharp's CPU libtorch, libtorch-cpu-linux-x64)",
            "on a machine with CUDA, build with -p:TorchBackend=cuda (`dotnet build -c Release -p:TorchBackend=cuda`, or " +
            "`FUSION_BUILD_ARGS=-p:TorchBackend=cuda ./fusion run …`; README, \"GPU build\"), or run with --device cpu");
}

using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Fusion.Models;

/// <summary>How <see cref="ConvKernels"/> computes CPU convolutions whose channel counts are not multiples of 16.</summary>
public enum CpuConvolution
{
    /// <summary>libtorch's own choice (oneDNN). Wrong on libtorch 2.10; kept to reproduce the bug and to measure the remedy.</summary>
    Native,
    /// <summary>im2col (unfold) + matmul for such convolutions; the others stay on libtorch's kernels.</summary>
    Im2ColBelowBlock,
}

/// <summary>
/// Every convolution of the project's networks runs through here. libtorch 2.10's oneDNN 3.7.1 convolution kernels read
/// uninitialised memory when a channel count is not a multiple of their block (16 on AVX-512, 8 on AVX2): backward-data
/// of small-output convolutions in float32, and in bfloat16 also the forward of small-output and the backward-data of
/// small-input convolutions come out NaN or silently wrong (docs/onednn-conv-bug.md has the measurements and a
/// stand-alone reproduction). On the CPU those passes are computed as unfold + matmul instead: the same function,
/// autograd through im2col/col2im and a GEMM, no oneDNN convolution. Switching oneDNN off process-wide would do it too,
/// but it makes bfloat16 GEMMs ~500× slower. The choice is an environment fact (<see cref="Fact"/>): it changes the last bits.
/// </summary>
public static class ConvKernels
{
    /// <summary>The widest oneDNN block (AVX-512); channel counts that are multiples of it take oneDNN's plain path.</summary>
    public const int Block = 16;

    /// <summary>Bound on one im2col buffer; larger batches are unfolded in chunks.</summary>
    private const long MaxColumnBytes = 256L << 20;

    /// <summary>The CPU policy; <c>FUSION_CPU_CONV=native</c> selects libtorch's kernels (for reproducing the bug only).</summary>
    public static CpuConvolution Cpu { get; set; } =
        Environment.GetEnvironmentVariable("FUSION_CPU_CONV") is "native" ? CpuConvolution.Native : CpuConvolution.Im2ColBelowBlock;

    /// <summary>The policy as a fingerprint fact value.</summary>
    public static string Fact => Cpu == CpuConvolution.Native ? "onednn" : $"im2col-below-{Block}-except-fp32-inference";

    /// <summary>
    /// Whether a convolution avoids libtorch's kernels: on the CPU, with a channel count that is not a multiple of
    /// <see cref="Block"/>, in bfloat16/float16 always, in float32 when the input's gradient will be computed. A float32
    /// forward (and weight gradient) of oneDNN is right in every measured case, and im2col costs up to 7× there (a
    /// VAE's 128→3 output convolution at 256²), so inference keeps it. float64 never reaches oneDNN.
    /// </summary>
    public static bool UsesIm2Col(DeviceType device, ScalarType dtype, long inChannels, long outChannels, bool inputGradient) =>
        Cpu == CpuConvolution.Im2ColBelowBlock && device == DeviceType.CPU && (inChannels % Block != 0 || outChannels % Block != 0)
        && dtype != ScalarType.Float64 && (dtype != ScalarType.Float32 || inputGradient);

    /// <summary>conv2d(x, weight, bias) with groups 1 and dilation 1, x [B, C, H, W], weight [O, C, kH, kW].</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, (long H, long W) stride, (long H, long W) padding)
    {
        if (x.dim() != 4 || x.shape[1] != weight.shape[1])
            throw new ArgumentException($"conv2d: input [{string.Join(", ", x.shape)}] does not match weight [{string.Join(", ", weight.shape)}]");
        if (!UsesIm2Col(x.device_type, x.dtype, weight.shape[1], weight.shape[0], is_grad_enabled() && x.requires_grad))
            return F.conv2d(x, weight, bias, strides: [stride.H, stride.W], padding: [padding.H, padding.W]);

        using var scope = NewDisposeScope();
        var (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3]);
        var ho = (x.shape[2] + 2 * padding.H - kh) / stride.H + 1;
        var wo = (x.shape[3] + 2 * padding.W - kw) / stride.W + 1;
        if (ho < 1 || wo < 1) throw new ArgumentException($"conv2d: kernel {kh}×{kw} does not fit input [{string.Join(", ", x.shape)}] with padding {padding}");
        var w = weight.reshape(o, -1);
        var columnBytes = w.shape[1] * ho * wo * x.ElementSize;
        var chunk = (int)Math.Clamp(MaxColumnBytes / Math.Max(columnBytes, 1), 1, x.shape[0]);
        var parts = x.split(chunk, 0).Select(part =>
        {
            var columns = F.unfold(part, (kh, kw), padding: (padding.H, padding.W), stride: (stride.H, stride.W));   // [b, C·kH·kW, Ho·Wo]
            var y = w.matmul(columns);
            return bias is null ? y : y.Plus(bias.view(1, o, 1));
        }).ToArray();
        var output = parts.Length == 1 ? parts[0] : cat(parts, 0);
        return output.view(x.shape[0], o, ho, wo).MoveToOuterDisposeScope();
    }
}

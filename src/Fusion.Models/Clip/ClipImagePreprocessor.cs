using Fusion.Models.Weights;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>
/// CLIP's image preprocessing for CLIP Score, from float images [B, 3, H, W] in [0, 1]: resize the shortest side to
/// <c>size</c> (the long side becomes <c>int(size·long/short)</c>), bicubic with antialiasing; centre crop
/// <c>size</c>² with torchvision's offsets <c>round((H − size)/2)</c>; normalise with CLIP's mean and std.
/// <para>
/// Reference: openai <c>clip.load(...)</c>'s <c>preprocess</c> (torchvision <c>Resize(224, BICUBIC)</c> on a PIL image +
/// <c>CenterCrop</c> + <c>Normalize</c>), which HF <c>CLIPImageProcessor</c> reproduces for the openai checkpoints. The
/// resize is libtorch's antialiased bicubic (PIL's a = −0.5 kernel with the same support and normalisation; this is
/// also torchvision's tensor path and <c>CLIPImageProcessorFast</c>). Differences that remain: PIL resamples uint8
/// images in fixed point and rounds to uint8 after each of its two passes (≤ about 1/255 per pixel); HF's slow
/// processor crops at <c>(H − size) // 2</c>, one pixel off torchvision when the margin is odd (not for square inputs).
/// With <c>quantize</c> (default) the resized image is clamped and rounded to the 1/255 grid as PIL's uint8 output is.
/// </para>
/// </summary>
public static class ClipImagePreprocessor
{
    public static readonly double[] Mean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] Std = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>Float images [B, 3, H, W] in [0, 1] → normalised pixel values [B, 3, size, size] (float32).</summary>
    public static Tensor Preprocess(Tensor images, int size = 224, bool quantize = true)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"CLIP preprocessing expects images [B, 3, H, W], got {StateDict.Shape(images)}");
        if (!images.is_floating_point())
            throw new ArgumentException($"CLIP preprocessing expects float images in [0, 1], got {images.dtype} (divide uint8 images by 255)");
        using var scope = NewDisposeScope();
        var x = Resize(images.to(ScalarType.Float32), size);
        if (quantize) x = x.clamp(0, 1).mul(255).round().div(255);
        x = CenterCrop(x, size);
        var mean = tensor(Mean, ScalarType.Float32, x.device).view(1, 3, 1, 1);
        var std = tensor(Std, ScalarType.Float32, x.device).view(1, 3, 1, 1);
        return ((x - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Output size of "resize the shortest side to <paramref name="size"/>" (torchvision / HF rule).</summary>
    public static (long Height, long Width) ResizedSize(long height, long width, int size) =>
        height <= width ? (size, (long)(size * (double)width / height)) : ((long)(size * (double)height / width), size);

    /// <summary>Shortest side to <paramref name="size"/>, antialiased bicubic (a = −0.5); unchanged when already that size.</summary>
    public static Tensor Resize(Tensor images, int size)
    {
        var (h, w) = ResizedSize(images.shape[2], images.shape[3], size);
        return h == images.shape[2] && w == images.shape[3]
            ? images.alias()
            : nn.functional.interpolate(images, [h, w], mode: InterpolationMode.Bicubic, align_corners: false, antialias: true);
    }

    /// <summary>torchvision <c>center_crop</c> offsets: Python <c>int(round((H − size) / 2.0))</c> (round half to even).</summary>
    public static Tensor CenterCrop(Tensor images, int size)
    {
        var (h, w) = (images.shape[2], images.shape[3]);
        if (h < size || w < size) throw new ArgumentException($"cannot centre-crop {size}² from {h}×{w}");
        var top = (long)Math.Round((h - size) / 2.0, MidpointRounding.ToEven);
        var left = (long)Math.Round((w - size) / 2.0, MidpointRounding.ToEven);
        return images.narrow(2, top, size).narrow(3, left, size);
    }
}

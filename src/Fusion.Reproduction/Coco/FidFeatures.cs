using Fusion.Models;
using Fusion.Models.Inception;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Coco;

/// <summary>
/// The one path every image takes to FID features, generated or real: uint8 [B, 3, H, W] → /255 → FID Inception-v3
/// (bilinear resize to 299, 2x − 1) → pool3 [B, 2048] float32 on the CPU. pytorch-fid reads PNGs the same way.
/// </summary>
public static class FidFeatures
{
    public const int Dim = 2048;

    public static Tensor Of(FidInceptionV3 inception, Tensor uint8Images, Device device)
    {
        if (uint8Images.dtype != ScalarType.Byte) throw new ArgumentException($"FID features take uint8 images, got {uint8Images.dtype}");
        using var scope = NewDisposeScope();
        var x = uint8Images.to(device).to(ScalarType.Float32).Over(255);
        return inception.Features(x).cpu().MoveToOuterDisposeScope();
    }

    /// <summary>HWC RGB bytes of <paramref name="count"/> images of side <paramref name="size"/> → uint8 [count, 3, size, size].</summary>
    public static Tensor FromHwc(byte[] hwc, int count, int size) =>
        tensor(hwc, [count, size, size, 3]).permute(0, 3, 1, 2).contiguous();
}

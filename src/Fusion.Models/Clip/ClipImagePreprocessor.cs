using Fusion.Models.Weights;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>
/// openai/CLIP's image preprocessing (<c>clip._transform(n_px)</c>, which U-ViT's <c>tools/clipscore.py</c> repeats) on
/// 8-bit images, exactly as Pillow 9.4 + torchvision compute it:
/// <list type="number">
/// <item><c>Resize(n_px, BICUBIC)</c>: short side → n_px, long side → <c>int(n_px·long/short)</c>; Pillow's fixed-point
/// resampling (<see cref="PillowResample"/>), premultiplied for RGBA/LA, NEAREST for "1"/"P", a copy at the same size.</item>
/// <item><c>CenterCrop(n_px)</c>: offsets <c>int(round((W − n_px)/2))</c>, Python's round (half to even).</item>
/// <item><c>convert("RGB")</c>, <c>ToTensor</c> (u8 / 255) and <c>Normalize</c> with CLIP's mean and std, all in float32.</item>
/// </list>
/// Float images are first quantised as the reference saves its samples (torchvision <c>save_image</c>), because CLIP
/// Score is computed from the saved PNGs.
/// </summary>
public static class ClipImagePreprocessor
{
    public static readonly double[] Mean = [0.48145466, 0.4578275, 0.40821073];
    public static readonly double[] Std = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>
    /// Images [B, 3, H, W] → normalised pixel values [B, 3, size, size] (float32, on the input's device). uint8 images
    /// are taken as they are; float images in [0, 1] are quantised first (<see cref="ToUInt8"/>).
    /// </summary>
    public static Tensor Preprocess(Tensor images, int size = 224)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"CLIP preprocessing expects images [B, 3, H, W], got {StateDict.Shape(images)}");
        if (images.dtype != ScalarType.Byte && !images.is_floating_point())
            throw new ArgumentException($"CLIP preprocessing expects uint8 images or float images in [0, 1], got {images.dtype}");
        using var scope = NewDisposeScope();
        var u8 = images.dtype == ScalarType.Byte ? images : ToUInt8(images);
        var (b, h, w) = ((int)images.shape[0], (int)images.shape[2], (int)images.shape[3]);
        var hwc = u8.permute(0, 2, 3, 1).contiguous().cpu().data<byte>().ToArray();
        var output = new float[b * 3 * size * size];
        Parallel.For(0, b, i =>
        {
            var image = PilImage.Rgb(w, h, hwc.AsSpan(i * h * w * 3, h * w * 3).ToArray());
            Preprocess(image, size).CopyTo(output, i * 3 * size * size);
        });
        return tensor(output, [b, 3, size, size]).to(images.device).MoveToOuterDisposeScope();
    }

    /// <summary>One image → normalised pixel values [3, size, size] (CHW, float32).</summary>
    public static float[] Preprocess(PilImage image, int size = 224)
    {
        var (w, h) = ResizedSize(image.Width, image.Height, size);
        var (left, top) = CropOffsets(w, h, size);
        var rgb = image.ResizeBicubic(w, h).Crop(left, top, size, size).ToRgb();
        var plane = size * size;
        var output = new float[3 * plane];
        for (var c = 0; c < 3; c++)
        {
            // torchvision: tensor.div(255) then (x − mean) / std with float32 mean and std (Python floats → float32).
            float mean = (float)Mean[c], std = (float)Std[c];
            for (var i = 0; i < plane; i++) output[c * plane + i] = (rgb[3 * i + c] / 255f - mean) / std;
        }
        return output;
    }

    /// <summary>
    /// Float images in [0, 1] → uint8 as torchvision <c>save_image</c> writes them (U-ViT saves its samples so):
    /// <c>(x·255 + 0.5).clamp(0, 255)</c> truncated, in float32.
    /// </summary>
    public static Tensor ToUInt8(Tensor images) =>
        images.to(ScalarType.Float32).Times(255).Plus(0.5).Clamp(0, 255).to(ScalarType.Byte);

    /// <summary>torchvision's <c>Resize(size)</c> output (width, height): short side → size, long side → <c>int(size·long/short)</c>.</summary>
    public static (int Width, int Height) ResizedSize(int width, int height, int size) =>
        width <= height ? (size, (int)(size * (double)height / width)) : ((int)(size * (double)width / height), size);

    /// <summary>torchvision <c>center_crop</c> offsets (left, top): <c>int(round((W − size) / 2.0))</c>, round half to even.</summary>
    public static (int Left, int Top) CropOffsets(int width, int height, int size)
    {
        if (width < size || height < size) throw new ArgumentException($"cannot centre-crop {size}² from {width}×{height}");
        return ((int)Math.Round((width - size) / 2.0, MidpointRounding.ToEven), (int)Math.Round((height - size) / 2.0, MidpointRounding.ToEven));
    }
}

using Fusion.Models.Clip;
using static TorchSharp.torch;

namespace Fusion.Tests.Clip;

/// <summary>
/// Properties of the Pillow-exact CLIP preprocessing that hold without the golden fixture (which
/// <see cref="ClipPreprocessFixtureTests"/> checks bit for bit). The resampler used to be libtorch's float antialiased
/// bicubic and was compared with float PIL weights to 2e-6; it is now Pillow's 8-bit fixed-point port, so the float
/// model below rounds between passes as Pillow does and may differ by one level where 22-bit coefficients tip a rounding.
/// </summary>
public class ClipImagePreprocessorTests
{
    /// <summary>One axis of PIL's antialiased bicubic (<c>precompute_coeffs</c> in Resample.c) in float64.</summary>
    private static double[,] PilBicubicWeights(int inSize, int outSize)
    {
        static double Cubic(double x)
        {
            const double a = -0.5;
            x = Math.Abs(x);
            return x < 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * a : 0;
        }
        var scale = (double)inSize / outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = 2.0 * filterScale;
        var w = new double[outSize, inSize];
        for (var o = 0; o < outSize; o++)
        {
            var center = (o + 0.5) * scale;
            var xmin = Math.Max((int)(center - support + 0.5), 0);
            var xmax = Math.Min((int)(center + support + 0.5), inSize);
            double total = 0;
            for (var x = xmin; x < xmax; x++) total += w[o, x] = Cubic((x - center + 0.5) / filterScale);
            for (var x = xmin; x < xmax; x++) w[o, x] /= total;
        }
        return w;
    }

    /// <summary>Float model of Pillow's two passes: horizontal then vertical, each rounded half up and clipped to uint8.</summary>
    private static byte[] FloatModel(byte[] src, int w, int h, int bands, int outW, int outH) =>
        FloatPass(FloatPass(src, w, h, bands, PilBicubicWeights(w, outW), horizontal: true), outW, h, bands, PilBicubicWeights(h, outH), horizontal: false);

    private static byte[] FloatPass(byte[] src, int w, int h, int bands, double[,] weights, bool horizontal)
    {
        var (outW, outH) = horizontal ? (weights.GetLength(0), h) : (w, weights.GetLength(0));
        var output = new byte[outW * outH * bands];
        for (var y = 0; y < outH; y++)
            for (var x = 0; x < outW; x++)
                for (var b = 0; b < bands; b++)
                {
                    double s = 0;
                    for (var i = 0; i < weights.GetLength(1); i++)
                        s += weights[horizontal ? x : y, i] * src[(horizontal ? y * w + i : i * w + x) * bands + b];
                    output[(y * outW + x) * bands + b] = (byte)Math.Clamp(Math.Floor(s + 0.5), 0, 255);
                }
        return output;
    }

    [Theory]
    [InlineData(53, 37, 22, 16)] // down-scaling: support widened by the factor
    [InlineData(17, 31, 40, 73)] // up-scaling: support 2
    [InlineData(30, 20, 45, 9)] // up one axis, down the other
    public void ResamplerIsPilsBicubicRoundedBetweenPasses(int w, int h, int outW, int outH)
    {
        var rng = new Random(5);
        var src = new byte[w * h * 3];
        rng.NextBytes(src);
        var got = PillowResample.Bicubic(src, w, h, 3, outW, outH);
        var model = FloatModel(src, w, h, 3, outW, outH);
        var diffs = got.Zip(model, (a, b) => Math.Abs(a - b)).ToArray();
        Assert.True(diffs.Max() <= 1, $"max |Δ| {diffs.Max()} levels against the float model");
        Assert.True(diffs.Count(d => d != 0) <= diffs.Length / 100, $"{diffs.Count(d => d != 0)} of {diffs.Length} values differ by a level");
        // An unchanged axis is not resampled (Pillow skips the pass): a 1-D horizontal resize keeps rows independent.
        var rows = PillowResample.Bicubic(src, w, h, 3, outW, h);
        Assert.Equal(PillowResample.Bicubic(src[..(w * 3)], w, 1, 3, outW, 1), rows[..(outW * 3)]);
        Assert.Equal(src, PillowResample.Bicubic(src, w, h, 3, w, h));
    }

    [Fact]
    public void NearestTakesPillowsSourcePixels()
    {
        byte[] row = [10, 20, 30, 40];
        Assert.Equal(new byte[] { 20, 40 }, PillowResample.Nearest(row, 4, 1, 1, 2, 1)); // centres 1, 3
        Assert.Equal(new byte[] { 10, 10, 20, 20 }, PillowResample.Nearest(row[..2], 2, 1, 1, 4, 1)); // 0.25, 0.75, 1.25, 1.75
        // "P" images resize NEAREST even when BICUBIC is asked (Pillow's Image.resize).
        var p = new PilImage(PilMode.P, 2, 1, [255, 0, 0, 0, 0, 255]).ResizeBicubic(4, 1);
        Assert.Equal(new byte[] { 255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255 }, p.Pixels);
    }

    [Fact]
    public void AlphaIsPremultipliedWithPillowsIntegerFormulas()
    {
        // MULDIV255: t = c·a + 128, ((t >> 8) + t) >> 8; back: ⌊255·c / a⌋ clipped, alpha 0 and 255 untouched.
        Assert.Equal(new byte[] { 100, 50, 25, 128 }, PilImage.Premultiply([200, 100, 50, 128], 4));
        Assert.Equal(new byte[] { 199, 99, 49, 128 }, PilImage.Unpremultiply([100, 50, 25, 128], 4));
        Assert.Equal(new byte[] { 255, 7, 0, 100, 9, 8, 7, 0 }, PilImage.Unpremultiply([200, 3, 0, 100, 9, 8, 7, 0], 4));
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, PilImage.Premultiply([9, 8, 7, 0], 4));
        // Opaque red beside fully transparent green: premultiplied, no green bleeds into the red after resizing.
        const int w = 16;
        var rgba = new byte[w * 4 * 4];
        for (var i = 0; i < w * 4; i++)
        {
            var opaque = i % w < w / 2;
            rgba[i * 4] = opaque ? (byte)255 : (byte)0;
            rgba[i * 4 + 1] = opaque ? (byte)0 : (byte)255;
            rgba[i * 4 + 3] = opaque ? (byte)255 : (byte)0;
        }
        var resized = new PilImage(PilMode.RGBA, w, 4, rgba).ResizeBicubic(5, 4);
        for (var i = 0; i < resized.Width * resized.Height; i++)
            if (resized.Pixels[i * 4 + 3] is > 0 and < 255) Assert.True(resized.Pixels[i * 4 + 1] == 0, $"green {resized.Pixels[i * 4 + 1]} bled into pixel {i}");
        Assert.Contains(Enumerable.Range(0, 20), i => resized.Pixels[i * 4 + 3] is > 0 and < 255);
    }

    [Fact]
    public void CropsAndNormalisesLikeTorchvision()
    {
        // A constant image stays constant: every output is (102/255 − mean)/std in float32, as torchvision computes it.
        using var flat = full(2, 3, 300, 260, 102, ScalarType.Byte);
        using var x = ClipImagePreprocessor.Preprocess(flat, 224);
        Assert.Equal(new long[] { 2, 3, 224, 224 }, x.shape);
        for (var c = 0; c < 3; c++)
        {
            var v = (102 / 255f - (float)ClipImagePreprocessor.Mean[c]) / (float)ClipImagePreprocessor.Std[c];
            Assert.True(x.select(1, c).eq(v).all().item<bool>());
        }
        Assert.Equal((22, 16), ClipImagePreprocessor.ResizedSize(53, 37, 16)); // int(16·53/37) = 22
        // Crop offsets: round half to even, as Python's round — margin 3 → 2, margin 5 → 2, margin 77 → 38.
        Assert.Equal((2, 2), ClipImagePreprocessor.CropOffsets(227, 229, 224));
        Assert.Equal((0, 38), ClipImagePreprocessor.CropOffsets(224, 301, 224));
        Assert.Throws<ArgumentException>(() => ClipImagePreprocessor.Preprocess(zeros(1, 3, 8, 8, ScalarType.Int32)));
    }

    [Fact]
    public void FloatImagesAreQuantisedAsSaveImageWritesThem()
    {
        float[] v = [-0.1f, 0, 0.2f, 0.498f, 0.5f, 0.999f, 1, 1.2f];
        using var u8 = ClipImagePreprocessor.ToUInt8(tensor(v));
        Assert.Equal(v.Select(f => (byte)Math.Clamp(MathF.Floor(f * 255f + 0.5f), 0, 255)).ToArray(), u8.data<byte>().ToArray());
        using var g = new Generator(3);   // its own generator: tests in parallel share libtorch's default one
        using var img = rand([2, 3, 40, 50], generator: g);
        using var fromFloat = ClipImagePreprocessor.Preprocess(img, 32);
        using var fromBytes = ClipImagePreprocessor.Preprocess(ClipImagePreprocessor.ToUInt8(img), 32);
        Assert.True(fromFloat.eq(fromBytes).all().item<bool>());
    }
}

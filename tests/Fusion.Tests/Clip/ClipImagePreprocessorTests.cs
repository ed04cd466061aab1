using Fusion.Models.Clip;
using static TorchSharp.torch;

namespace Fusion.Tests.Clip;

public class ClipImagePreprocessorTests
{
    /// <summary>PIL's antialiased bicubic (<c>precompute_coeffs</c> in Resample.c) in float64, one axis.</summary>
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

    [Fact]
    public void ResizeIsPilsAntialiasedBicubic()
    {
        manual_seed(5);
        using var img = rand(1, 3, 37, 53);
        var (h, w) = ClipImagePreprocessor.ResizedSize(37, 53, 16);
        Assert.Equal((16L, 22L), (h, w)); // int(16·53/37) = 22
        using var got = ClipImagePreprocessor.Resize(img, 16);
        using var wy = tensor(Flatten(PilBicubicWeights(37, 16)), [16, 37], ScalarType.Float64);
        using var wx = tensor(Flatten(PilBicubicWeights(53, 22)), [22, 53], ScalarType.Float64);
        using var expected = matmul(matmul(wy, img.to(ScalarType.Float64)), wx.t());
        Assert.True(got.to(ScalarType.Float64).allclose(expected, rtol: 0, atol: 2e-6),
            $"max diff {(got.to(ScalarType.Float64) - expected).abs().max().item<double>():E2}");
    }

    [Fact]
    public void CropsAndNormalisesLikeTorchvision()
    {
        // A constant image stays constant: every output is (c − mean)/std.
        using var flat = full(2, 3, 300, 260, 0.4);
        using var x = ClipImagePreprocessor.Preprocess(flat, 224);
        Assert.Equal(new long[] { 2, 3, 224, 224 }, x.shape);
        for (var c = 0; c < 3; c++)
        {
            var v = (102.0 / 255 - ClipImagePreprocessor.Mean[c]) / ClipImagePreprocessor.Std[c]; // 0.4 is 102/255 on the uint8 grid
            Assert.True(x.select(1, c).allclose(full_like(x.select(1, c), (float)v), rtol: 0, atol: 1e-5));
        }
        // Crop offsets: round half to even, as Python's round — margin 3 → offset 2, margin 5 → offset 2.
        using var ramp = arange(229.0).view(1, 1, 1, 229).expand(1, 3, 227, 229);
        using var crop = ClipImagePreprocessor.CenterCrop(ramp, 224);
        Assert.Equal(2f, crop[0, 0, 0, 0].item<float>());
        using var square = rand(1, 3, 224, 224);
        using var same = ClipImagePreprocessor.Preprocess(square, 224, quantize: false);
        using var mean = tensor(ClipImagePreprocessor.Mean, ScalarType.Float32).view(1, 3, 1, 1);
        using var std = tensor(ClipImagePreprocessor.Std, ScalarType.Float32).view(1, 3, 1, 1);
        Assert.True(same.allclose((square - mean) / std, rtol: 0, atol: 1e-6));
        Assert.Throws<ArgumentException>(() => ClipImagePreprocessor.Preprocess(zeros(1, 3, 8, 8, ScalarType.Byte)));
    }

    private static double[] Flatten(double[,] a) => a.Cast<double>().ToArray();
}

using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Fusion.Models;

/// <summary>A convolution shape: channels, kernel, stride and padding (groups 1, dilation 1).</summary>
public sealed record ConvShape(long In, long Out, long KH, long KW, long SH = 1, long SW = 1, long PH = 0, long PW = 0, string Where = "")
{
    public override string ToString() => $"{(Where.Length > 0 ? Where + ": " : "")}{In}→{Out}, kernel {KH}×{KW}, stride {SH}×{SW}, padding {PH}×{PW}";
}

/// <summary>What one convolution got wrong against float64: the largest error of each result, relative to its largest value
/// (<see cref="Inference"/>: the output of a forward without gradients, which may take another kernel).</summary>
public sealed record ConvErrors(double Inference, double Output, double InputGradient, double WeightGradient, double BiasGradient)
{
    public double Max => Parts.Max(p => p.Error);
    public IEnumerable<(string What, double Error)> Parts =>
        [("inference output", Inference), ("output", Output), ("input gradient", InputGradient), ("weight gradient", WeightGradient), ("bias gradient", BiasGradient)];
}

/// <summary>
/// Checks a convolution against float64, forward and backward, after "poisoning" the allocator with NaN-filled blocks so
/// that a kernel which reads memory it never wrote shows NaN or garbage instead of passing by luck (fresh pages are zero).
/// Used by the tests (through <see cref="ConvKernels"/>) and by <c>fusion bench conv</c> (also through libtorch's own
/// kernels, to measure the fault and the remedy's cost).
/// </summary>
public static class ConvProbe
{
    /// <summary>Allocates and frees NaN-filled blocks of many sizes (16 KiB to 64 MiB).</summary>
    public static void PoisonAllocator()
    {
        using var nan = float.NaN.ToScalar();
        foreach (var kib in new[] { 16, 64, 256, 1024, 4096, 16384, 65536 })
            for (var i = 0; i < 2; i++)
                full(kib * 256L + i * 16, nan).Dispose();
    }

    /// <summary>A float32 result is off float64 by ≤ 6e-6 of its largest value (measured), a bfloat16 one by ≤ 2e-2; the fault: NaN or O(1).</summary>
    public static double Tolerance(ScalarType dtype) => dtype == ScalarType.Float32 ? 1e-4 : 5e-2;

    /// <summary>One poisoned forward and backward of <paramref name="shape"/> on batch × H × W inputs in <paramref name="dtype"/>,
    /// through <see cref="ConvKernels"/> or (<paramref name="native"/>) libtorch's conv2d.</summary>
    public static ConvErrors Check(ConvShape shape, ScalarType dtype, Generator generator, bool native = false, int batch = 2, long? height = null, long? width = null)
    {
        using var scope = NewDisposeScope();
        var h = height ?? Math.Max(2 * shape.KH, 8) + shape.SH;   // at least two output rows for every stride
        var w = width ?? Math.Max(2 * shape.KW, 8) + shape.SW;
        var x64 = randn([batch, shape.In, h, w], ScalarType.Float64, generator: generator);
        var w64 = randn([shape.Out, shape.In, shape.KH, shape.KW], ScalarType.Float64, generator: generator).Over(Math.Sqrt(shape.In * shape.KH * shape.KW));
        var b64 = randn([shape.Out], ScalarType.Float64, generator: generator);
        // The reference computes from the low-precision values, so only the kernels' arithmetic differs.
        var (x, weight, bias) = (x64.to(dtype).requires_grad_(), w64.to(dtype).requires_grad_(), b64.to(dtype).requires_grad_());
        var (xr, wr, br) = (x.detach().to(ScalarType.Float64).requires_grad_(), weight.detach().to(ScalarType.Float64).requires_grad_(),
            bias.detach().to(ScalarType.Float64).requires_grad_());
        var yr = F.conv2d(xr, wr, br, strides: [shape.SH, shape.SW], padding: [shape.PH, shape.PW]);
        var gradOut = randn(yr.shape, ScalarType.Float64, generator: generator);
        yr.backward([gradOut]);

        Tensor Forward(Tensor input) => native
            ? F.conv2d(input, weight, bias, strides: [shape.SH, shape.SW], padding: [shape.PH, shape.PW])
            : ConvKernels.Conv2d(input, weight, bias, (shape.SH, shape.SW), (shape.PH, shape.PW));
        double inference;
        using (no_grad())
        {
            PoisonAllocator();
            inference = RelativeError(Forward(x.detach()), yr);
        }
        PoisonAllocator();
        var y = Forward(x);
        PoisonAllocator();
        y.backward([gradOut.to(dtype)]);
        return new ConvErrors(inference, RelativeError(y, yr), RelativeError(x.grad!, xr.grad!), RelativeError(weight.grad!, wr.grad!), RelativeError(bias.grad!, br.grad!));
    }

    /// <summary>max |actual − expected| / max |expected| in float64; NaN anywhere counts as +∞.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64);
        var scale = Math.Max(e.abs().max().item<double>(), 1e-30);
        var error = (actual.to(ScalarType.Float64) - e).abs().max().item<double>() / scale;
        return double.IsNaN(error) ? double.PositiveInfinity : error;
    }
}

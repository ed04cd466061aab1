using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Fusion.Models;

/// <summary>
/// `fusion bench conv`: for the small-channel convolutions of the project's networks, at their real sizes, how often
/// libtorch's own CPU kernels and <see cref="ConvKernels"/> get a poisoned forward + backward wrong against float64
/// (<see cref="ConvProbe"/>), and what each costs (median forward + backward, and inference forward, time). Options: trials (fault-rate trials per
/// shape and dtype, default 20), rounds (timed rounds, 5), dtypes (fp32,bf16), only (a substring of the shape names).
/// </summary>
public static class ConvBenchmark
{
    // (name, shape, batch, H = W): the U-ViT's of the shapes pipeline and of S/2, the KL-f8 VAE's and FID-Inception's ends.
    private static readonly (string Name, ConvShape Shape, int Batch, int Size)[] Cases =
    [
        ("uvit-shapes final 3→3", new(3, 3, 3, 3, PH: 1, PW: 1), 32, 32),
        ("uvit-shapes patch 3→64/4", new(3, 64, 4, 4, 4, 4), 32, 32),
        ("uvit-s2 final 4→4", new(4, 4, 3, 3, PH: 1, PW: 1), 16, 32),
        ("uvit-s2 patch 4→512/2", new(4, 512, 2, 2, 2, 2), 16, 32),
        ("vae conv_in 3→128", new(3, 128, 3, 3, PH: 1, PW: 1), 1, 256),
        ("vae conv_out 128→3", new(128, 3, 3, 3, PH: 1, PW: 1), 1, 256),
        ("inception stem 3→32/2", new(3, 32, 3, 3, 2, 2), 8, 299),
    ];

    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        string Opt(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
        var trials = int.Parse(Opt("trials", "20"), CultureInfo.InvariantCulture);
        var rounds = int.Parse(Opt("rounds", "5"), CultureInfo.InvariantCulture);
        var only = Opt("only", "");
        var dtypes = Opt("dtypes", "fp32,bf16").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(d => d switch { "fp32" => ScalarType.Float32, "bf16" => ScalarType.BFloat16, _ => throw new ArgumentException($"dtypes: unknown '{d}' (fp32, bf16)") }).ToArray();
        using var g = new Generator(1);
        foreach (var (name, shape, batch, size) in Cases.Where(c => c.Name.Contains(only, StringComparison.Ordinal)))
            foreach (var dtype in dtypes)
            {
                var label = $"{name} {(dtype == ScalarType.Float32 ? "fp32" : "bf16")}";
                foreach (var native in new[] { true, false })
                {
                    var wrong = Enumerable.Range(0, trials).Count(_ => ConvProbe.Check(shape, dtype, g, native).Max > ConvProbe.Tolerance(dtype));
                    yield return ($"{label}: {(native ? "libtorch" : "fusion")} wrong", 100.0 * wrong / trials, $"% of {trials}");
                }
                foreach (var training in new[] { true, false })
                {
                    var times = new[] { true, false }.ToDictionary(n => n, _ => new List<double>());
                    for (var r = 0; r < rounds + 1; r++)
                        foreach (var native in new[] { true, false })   // interleaved, first round is warm-up
                        {
                            var seconds = Time(shape, dtype, batch, size, native, training, g);
                            if (r > 0) times[native].Add(seconds);
                        }
                    var what = training ? "fwd+bwd" : "inference fwd";
                    yield return ($"{label}: libtorch {what} (batch {batch}, {size}²)", 1e3 * Median(times[true]), "ms");
                    yield return ($"{label}: fusion {what} (batch {batch}, {size}²)", 1e3 * Median(times[false]), "ms");
                }
            }
    }

    private static double Time(ConvShape s, ScalarType dtype, int batch, int size, bool native, bool training, Generator g)
    {
        using var scope = NewDisposeScope();
        var x = randn([batch, s.In, size, size], generator: g).to(dtype).requires_grad_(training);
        var w = randn([s.Out, s.In, s.KH, s.KW], generator: g).Times(0.1).to(dtype).requires_grad_(training);
        var b = zeros(s.Out, dtype).requires_grad_(training);
        using var grad = enable_grad(training);
        var clock = Stopwatch.StartNew();
        var y = native ? F.conv2d(x, w, b, strides: [s.SH, s.SW], padding: [s.PH, s.PW]) : ConvKernels.Conv2d(x, w, b, (s.SH, s.SW), (s.PH, s.PW));
        if (training) y.sum().backward();
        return clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> v) { v.Sort(); return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2; }
}

using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Inception;

/// <summary>
/// Deterministic weights defined by a formula of each tensor's name and shape (the rule of the fid-inception golden
/// fixture), so a port and the reference can build the same network without a weight file. With name n, N elements in
/// row-major order, k = 0…N−1, computed in float64 and rounded to the tensor's dtype:
/// phase = (Σ UTF-8 bytes of n mod 997)/97, u[k] = sin(0.7k + phase); running_var → 1 + 0.5u², running_mean → 0.1u,
/// 1-D *.weight → 1 + 0.1u, other 1-D → 0.1u, ≥2-D → u·√(2/(N/s[0])), num_batches_tracked → 0.
/// </summary>
public static class FormulaWeights
{
    public static double[] Values(string name, long[] shape)
    {
        var n = shape.Aggregate(1L, (a, b) => a * b);
        var values = new double[n];
        if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal)) return values;
        var phase = Encoding.UTF8.GetBytes(name).Sum(b => (long)b) % 997 / 97.0;
        Func<double, double> map =
            name.EndsWith("running_var", StringComparison.Ordinal) ? u => 1 + 0.5 * u * u
            : name.EndsWith("running_mean", StringComparison.Ordinal) ? u => 0.1 * u
            : shape.Length == 1 && name.EndsWith(".weight", StringComparison.Ordinal) ? u => 1 + 0.1 * u
            : shape.Length == 1 ? u => 0.1 * u
            : ScaledBy(Math.Sqrt(2.0 / (n / (double)shape[0])));
        for (long k = 0; k < n; k++) values[k] = map(Math.Sin(0.7 * k + phase));
        return values;
    }

    private static Func<double, double> ScaledBy(double scale) => u => u * scale;

    /// <summary>The formula weights for every parameter and buffer of <paramref name="module"/>, in its dtypes.</summary>
    public static Dictionary<string, Tensor> For(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv =>
            tensor(Values(kv.Key, kv.Value.shape), float64).reshape(kv.Value.shape).to(float32).to(kv.Value.dtype));

    /// <summary>Copies the formula weights into <paramref name="module"/> (keys are its own, so nothing can mismatch).</summary>
    public static void Fill(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (key, t) in module.state_dict())
            t.copy_(tensor(Values(key, t.shape), float64).reshape(t.shape).to(float32));
    }
}

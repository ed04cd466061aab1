using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// Deterministic DDIM (η = 0) on the discrete training schedule: the network is called at integer steps
/// n_0 = N &gt; n_1 &gt; … (rounded linspace from N to 1), x̂0 = (x − √(1−ᾱ_n)·ε̂)/√ᾱ_n, x_{n'} = √ᾱ_{n'}·x̂0 + √(1−ᾱ_{n'})·ε̂.
/// Without <see cref="SamplerOptions.Denoise"/> it ends at n = 1 (the same endpoint as DPM-Solver's t = 1/N) after
/// Steps evaluations; with it, the last of Steps evaluations (at n = 1) steps to ᾱ = 1, returning x̂0.
/// </summary>
public static class Ddim
{
    public static int[] Timesteps(int n, int steps, bool toClean)
    {
        var points = toClean ? steps : steps + 1;
        if (steps < 1 || points > n) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"DDIM needs 1 ≤ points ≤ {n}");
        var grid = Enumerable.Range(0, points).Select(i => points == 1 ? n : (int)Math.Round(n - (n - 1.0) * i / (points - 1))).ToArray();
        return grid;
    }

    public static Tensor Sample(EpsModel model, Tensor xT, DiscreteSchedule schedule, SamplerOptions o, Prediction prediction = Prediction.Epsilon)
    {
        using var _ = no_grad();
        var grid = Timesteps(schedule.N, o.Steps, o.Denoise);
        var x = xT.to(ScalarType.Float32, copy: true);
        for (var k = 0; k < o.Steps; k++)
        {
            var n = grid[k];
            var next = k + 1 < grid.Length ? grid[k + 1] : 0; // 0: ᾱ_0 = 1, the clean sample
            using var scope = NewDisposeScope();
            using var nScalar = ((float)n).ToScalar();
            using var time = full([x.shape[0]], nScalar, ScalarType.Float32, x.device);
            var eps = model(x, time);
            if (prediction == Prediction.Velocity)   // ε̂ = √ᾱ_n·v̂ + √(1 − ᾱ_n)·x_n
                eps = eps.Times((float)Math.Sqrt(schedule.AlphasCumprod[n])).Plus(x.Times((float)Math.Sqrt(schedule.OneMinusAlphasCumprod[n])));
            var x0 = (x - eps.Times((float)Math.Sqrt(schedule.OneMinusAlphasCumprod[n]))).Over((float)Math.Sqrt(schedule.AlphasCumprod[n]));
            if (o.ClipX0)
            {
                // Clamp x̂0 and take the ε consistent with it, so the step stays on the DDIM trajectory of the clipped x̂0.
                x0 = x0.Clamp(-1f, 1f);
                eps = (x - x0.Times((float)Math.Sqrt(schedule.AlphasCumprod[n]))).Over((float)Math.Sqrt(schedule.OneMinusAlphasCumprod[n]));
            }
            var updated = x0.Times((float)Math.Sqrt(schedule.AlphasCumprod[next])).Plus(eps.Times((float)Math.Sqrt(schedule.OneMinusAlphasCumprod[next])));
            x.Dispose();
            x = updated.MoveToOuterDisposeScope();
        }
        return x;
    }
}

namespace Fusion.Models.Diffusion;

public enum SamplerKind
{
    /// <summary>DPM-Solver "fast": single-step updates of order 3 (then 2 or 1) over one grid of <c>Steps</c> intervals (the reference).</summary>
    DpmSolverFast,
    /// <summary>Multistep DPM-Solver; with <see cref="SamplerOptions.PredictX0"/> this is DPM-Solver++(kM), k = Order.</summary>
    DpmSolverMultistep,
    /// <summary>Deterministic DDIM (η = 0) over integer training steps of the discrete schedule.</summary>
    Ddim,
}

/// <summary>
/// How to sample. The defaults are the reference's evaluation setting (§7.2): DPM-Solver "fast", order 3, 50 model
/// evaluations, time-uniform grid from t = 1 to t = 1/N (the reference's eps = 1/N: 1e-3 at N = 1000), data prediction
/// (x̂0), no final denoising step, guidance scale 1.0 in ε_c + s·(ε_c − ε_u).
/// </summary>
public sealed record SamplerOptions
{
    public SamplerKind Kind { get; init; } = SamplerKind.DpmSolverFast;
    /// <summary>Number of model evaluations (DPM-Solver) or of DDIM steps.</summary>
    public int Steps { get; init; } = 50;
    public int Order { get; init; } = 3;
    public TimeSpacing Spacing { get; init; } = TimeSpacing.TimeUniform;
    public float TStart { get; init; } = 1.0f;
    /// <summary>Where the grid ends; null: 1/N of the schedule, the first discrete step (the reference's eps = 1/N).</summary>
    public float? TEnd { get; init; }
    /// <summary>Data-prediction form (DPM-Solver++ parameterisation; the reference's predict_x0=True) or noise prediction.</summary>
    public bool PredictX0 { get; init; } = true;
    /// <summary>After the last step, one more evaluation to return x̂0 at TEnd (DPM-Solver) or step to ᾱ = 1 (DDIM).</summary>
    public bool Denoise { get; init; }
    public double GuidanceScale { get; init; } = 1.0;
    /// <summary>
    /// Clamp each x̂0 (DPM-Solver's data prediction, DDIM's x̂0) to [−1, 1]: static thresholding for pixel-space models
    /// whose data lie in that range (DDPM's clip_denoised). Off in the reference, whose latents are unbounded.
    /// </summary>
    public bool ClipX0 { get; init; }

    /// <summary>The reference configuration (identical to the defaults).</summary>
    public static SamplerOptions Reference { get; } = new();

    /// <summary>DPM-Solver++(2M): multistep, second order, data prediction.</summary>
    public static SamplerOptions DpmSolverPlusPlus(int steps = 50, int order = 2) =>
        new() { Kind = SamplerKind.DpmSolverMultistep, Steps = steps, Order = order, PredictX0 = true };

    public static SamplerOptions Ddim(int steps = 50) => new() { Kind = SamplerKind.Ddim, Steps = steps };
}

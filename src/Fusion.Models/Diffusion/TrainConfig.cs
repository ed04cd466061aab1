namespace Fusion.Models.Diffusion;

/// <summary>What the network predicts from x_n (the samplers turn either into ε̂).</summary>
public enum Prediction
{
    /// <summary>The noise ε (the reference, DDPM).</summary>
    Epsilon,
    /// <summary>
    /// v = √ᾱ·ε − √(1 − ᾱ)·x0 (Salimans &amp; Ho 2022). x̂0 = √ᾱ·x_n − √(1 − ᾱ)·v̂, so an error in v̂ reaches x̂0 unamplified,
    /// where an ε̂ error is amplified √((1 − ᾱ)/ᾱ)-fold (≈ 15× at the last step of the scaled-linear schedule): the
    /// noisy steps that lay out an image are learnt sooner.
    /// </summary>
    Velocity,
}

/// <summary>Compute precision of a training step.</summary>
public enum TrainPrecision
{
    /// <summary>Everything in float32.</summary>
    Float32,
    /// <summary>Forward and backward on a bfloat16 copy of the model; float32 master weights, gradients, AdamW and EMA.</summary>
    BFloat16Mixed,
}

/// <summary>
/// Everything that determines a diffusion training run. Defaults are the reference's MS-COCO U-ViT-S/2 recipe
/// (paper-and-reference-code.md §6): AdamW 2e-4 / wd 0.03 on all parameters / betas (0.9, 0.9) / eps 1e-8, linear
/// warm-up over 5,000 steps from lr 0, EMA 0.9999, 10 % null caption, latents = 0.23010 · posterior sample.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>The reference recipe (identical to the defaults).</summary>
    public static TrainConfig Reference { get; } = new();

    public int BatchSize { get; init; } = 256;
    public double LearningRate { get; init; } = 2e-4;
    public double WeightDecay { get; init; } = 0.03;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.9;
    public double AdamEps { get; init; } = 1e-8;
    /// <summary>LR factor min(k / WarmupSteps, 1) at completed-step count k (so the first step uses lr 0); 0 = no warm-up.</summary>
    public int WarmupSteps { get; init; } = 5000;
    public double EmaRate { get; init; } = 0.9999;
    /// <summary>
    /// Off in the reference (its EMA starts at the initialisation, which 0.9999^1M forgets). On, the k-th update uses
    /// min(EmaRate, (1 + k) / (10 + k)) (TensorFlow's ExponentialMovingAverage with num_updates, timm's warm-up), so a
    /// run of a few thousand steps does not keep a large share of its random initial weights (0.999^2000 ≈ 14 %).
    /// </summary>
    public bool EmaWarmup { get; init; }

    /// <summary>The EMA rate of the update after <paramref name="completedSteps"/> steps.</summary>
    public double EmaRateAt(long completedSteps) => EmaWarmup ? Math.Min(EmaRate, (1.0 + completedSteps) / (10.0 + completedSteps)) : EmaRate;
    /// <summary>Probability of replacing a sample's context with the null context (classifier-free-guidance training).</summary>
    public double PUncond { get; init; } = 0.1;
    /// <summary>Latent scale applied to posterior samples drawn from moments (ignored for <see cref="BatchKind.Samples"/>).</summary>
    public double LatentScale { get; init; } = 0.23010;
    public int DiffusionSteps { get; init; } = 1000;
    public BetaSchedule BetaSchedule { get; init; } = BetaSchedule.ScaledLinear;
    public double BetaStart { get; init; } = 0.00085;
    public double BetaEnd { get; init; } = 0.012;

    /// <summary>
    /// Min-SNR-γ loss weighting (Hang et al. 2023), off (0) in the reference: sample i's ε-MSE is weighted by
    /// min(SNR_n, γ)/SNR_n, SNR_n = ᾱ_n/(1 − ᾱ_n). Uniform weighting lets the nearly clean steps dominate the gradient,
    /// while samples get their layout from the noisy ones, where an ε error is amplified √((1 − ᾱ)/ᾱ)-fold in x̂0 (up to
    /// 15× here); they report ≈ 3× faster convergence with γ = 5.
    /// </summary>
    public double MinSnrGamma { get; init; }
    public Prediction Prediction { get; init; } = Prediction.Epsilon;

    /// <summary>The training noise schedule; samplers must use the same one.</summary>
    public DiscreteSchedule NoiseSchedule() => DiscreteSchedule.Of(BetaSchedule, DiffusionSteps, BetaStart, BetaEnd);
    public TrainPrecision Precision { get; init; } = TrainPrecision.Float32;
    /// <summary>Seeds the trainer's generator (timesteps, noise, posterior samples, caption drop) and the model initialisation.</summary>
    public long Seed { get; init; } = 1234;
    /// <summary>"cpu", "cuda", "cuda:N" or "auto".</summary>
    public string Device { get; init; } = "cpu";
    public int LogEvery { get; init; } = 10;
    /// <summary>
    /// Whether <see cref="Trainer.Run"/> keeps the finite-update guard on the device and reads the loss and gradient
    /// norm only at log steps, checkpoints and its end (null: on for CUDA devices, off on the CPU, where a read costs
    /// nothing). On a GPU a host read waits for the step to finish, so the host could not queue the next step's work
    /// meanwhile. Same bits either way; a non-finite step is found at the next read and replayed with host checks,
    /// so it is reported as it would have been at once. Costs one more pass over the weights, moments and EMA per step.
    /// </summary>
    public bool? DeviceGuard { get; init; }
    /// <summary>Checkpoint every this many steps (and at the last step of <see cref="Trainer.Run"/>); 0 = only at the end.</summary>
    public int SaveEvery { get; init; } = 10_000;
    /// <summary>How many of the newest checkpoints to keep (0 = all).</summary>
    public int KeepCheckpoints { get; init; }

    /// <summary>
    /// Cosine decay after the warm-up, reaching 0 at this step (0 = none: the reference's constant rate). Short runs
    /// end on a small rate instead of mid-stride, the annealing a 1M-step run gets from its EMA.
    /// </summary>
    public long CosineDecaySteps { get; init; }

    /// <summary>Learning rate of the optimizer step taken after <paramref name="completedSteps"/> steps (LambdaLR semantics).</summary>
    public double LearningRateAt(long completedSteps)
    {
        var warm = WarmupSteps <= 0 ? 1.0 : Math.Min((double)completedSteps / WarmupSteps, 1.0);
        if (CosineDecaySteps <= 0 || completedSteps <= WarmupSteps) return LearningRate * warm;
        var progress = Math.Min(1.0, (completedSteps - WarmupSteps) / (double)Math.Max(1, CosineDecaySteps - WarmupSteps));
        return LearningRate * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    public void Validate()
    {
        void Require(bool ok, string what) { if (!ok) throw new ArgumentException($"invalid TrainConfig: {what}"); }
        Require(BatchSize > 0, $"BatchSize must be > 0, got {BatchSize}");
        Require(LearningRate >= 0, $"LearningRate must be ≥ 0, got {LearningRate}");
        Require(WeightDecay >= 0, $"WeightDecay must be ≥ 0, got {WeightDecay}");
        Require(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, $"Adam betas must be in [0, 1), got ({Beta1}, {Beta2})");
        Require(AdamEps > 0, $"AdamEps must be > 0, got {AdamEps}");
        Require(WarmupSteps >= 0, $"WarmupSteps must be ≥ 0, got {WarmupSteps}");
        Require(EmaRate is >= 0 and <= 1, $"EmaRate must be in [0, 1], got {EmaRate}");
        Require(PUncond is >= 0 and <= 1, $"PUncond must be in [0, 1], got {PUncond}");
        Require(LatentScale > 0, $"LatentScale must be > 0, got {LatentScale}");
        Require(MinSnrGamma >= 0, $"MinSnrGamma must be ≥ 0 (0 = off), got {MinSnrGamma}");
        Require(DiffusionSteps >= 2, $"DiffusionSteps must be ≥ 2, got {DiffusionSteps}");
        Require(LogEvery > 0, $"LogEvery must be > 0, got {LogEvery}");
        Require(SaveEvery >= 0 && KeepCheckpoints >= 0, "SaveEvery and KeepCheckpoints must be ≥ 0");
    }

    /// <summary>Fields that may change between an interrupted run and its resumption without changing the result.</summary>
    internal TrainConfig WithoutOperationalFields() => this with { Device = "", LogEvery = 1, SaveEvery = 0, KeepCheckpoints = 0, DeviceGuard = null };
}

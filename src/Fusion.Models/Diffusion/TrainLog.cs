namespace Fusion.Models.Diffusion;

/// <summary>
/// What the trainer reports: after <see cref="Step"/> completed steps, the mean loss over the steps since the last
/// report, the global gradient L2 norm of the last step (float32 master gradients, before the update), the learning
/// rate the last step used, and throughput over the reported steps.
/// </summary>
public sealed record TrainLog(long Step, double Loss, double GradNorm, double LearningRate, double ItPerSec, double ImagesPerSec);

/// <summary>
/// The loss or a gradient became NaN or infinite; nothing from that step was applied, so the weights in memory and the
/// checkpoints on disk are from before it.
/// </summary>
public sealed class NonFiniteTrainingException(long step, string what, string? lastGoodCheckpoint)
    : Exception($"non-finite {what} at step {step}; nothing from that step was applied" +
                (lastGoodCheckpoint is null ? " (no checkpoint was written yet)" : $"; last good checkpoint: {lastGoodCheckpoint}"))
{
    /// <summary>The 1-based number of the step that was refused.</summary>
    public long Step { get; } = step;
    /// <summary>What was not finite: "loss NaN", "gradient of 'name' (global norm NaN)", …</summary>
    public string What { get; } = what;
    public string? LastGoodCheckpoint { get; } = lastGoodCheckpoint;
}

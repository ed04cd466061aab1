namespace Fusion.Models.Diffusion;

/// <summary>
/// What the trainer reports: after <see cref="Step"/> completed steps, the mean loss over the steps since the last
/// report, the global gradient L2 norm of the last step (float32 master gradients, before the update), the learning
/// rate the last step used, and throughput over the reported steps.
/// </summary>
public sealed record TrainLog(long Step, double Loss, double GradNorm, double LearningRate, double ItPerSec, double ImagesPerSec);

/// <summary>The loss became NaN or infinite; the weights in memory and the checkpoints on disk are from before that step.</summary>
public sealed class NonFiniteLossException(long step, double loss, string? lastGoodCheckpoint)
    : Exception($"training loss is {loss} at step {step}; nothing from that step was applied" +
                (lastGoodCheckpoint is null ? " (no checkpoint was written yet)" : $"; last good checkpoint: {lastGoodCheckpoint}"))
{
    /// <summary>The 1-based number of the step whose loss was not finite.</summary>
    public long Step { get; } = step;
    public double Loss { get; } = loss;
    public string? LastGoodCheckpoint { get; } = lastGoodCheckpoint;
}

using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>What the data tensor of a batch holds.</summary>
public enum BatchKind
{
    /// <summary>Autoencoder moments [B, 2C, H, W] (mean then log-variance); the trainer draws z = scale·(mean + std·ε) each step.</summary>
    Moments,
    /// <summary>The clean data x0 [B, C, H, W] itself (pixel-space settings); used as is, no scale.</summary>
    Samples,
}

/// <summary>One training batch: data per <see cref="IBatchSource.Kind"/> and the caption context [B, L, D] (float32, CPU or any device).</summary>
public sealed record TrainBatch(Tensor Data, Tensor Context) : IDisposable
{
    public void Dispose() { Data.Dispose(); Context.Dispose(); }
}

/// <summary>
/// Where the trainer pulls batches from. The order is part of the run: <see cref="GetPosition"/> returns an opaque
/// string (e.g. JSON) that <see cref="SetPosition"/> accepts to continue with exactly the batch that would have come next.
/// The trainer applies the classifier-free-guidance caption drop itself; sources return real captions.
/// </summary>
public interface IBatchSource
{
    BatchKind Kind { get; }
    /// <summary>The next batch of <paramref name="batchSize"/> items; the caller disposes it.</summary>
    TrainBatch Next(int batchSize);
    string GetPosition();
    void SetPosition(string position);
}

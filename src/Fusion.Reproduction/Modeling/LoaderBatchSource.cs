using Fusion.Datasets.Loading;
using Fusion.Models.Diffusion;

namespace Fusion.Reproduction.Modeling;

/// <summary>
/// The trainer's batch source over the Parquet training loader. The loader's position ("epoch:batch") is the data
/// position saved with every checkpoint, so a resumed run sees exactly the batches it would have seen.
/// </summary>
public sealed class LoaderBatchSource(TrainingDataLoader loader, int batchSize) : IBatchSource
{
    /// <summary>uint8 pixels are clean samples (the loader maps them to [−1, 1]); float tables hold KL-f8 moments.</summary>
    public BatchKind Kind { get; } = loader.ImageSpec.DType == Fusion.Artifacts.Tables.TensorDType.UInt8 ? BatchKind.Samples : BatchKind.Moments;

    public TrainBatch Next(int size)
    {
        if (size != batchSize) throw new ArgumentException($"the loader was opened for batches of {batchSize}, the trainer asked for {size}");
        // Off this thread: the trainer blocks here, and on a slot's ComputeThread the loader's awaits would wait for it.
        var batch = Task.Run(() => loader.NextAsync()).GetAwaiter().GetResult();
        var (x, c) = batch.ToTensors();
        return new TrainBatch(x, c);
    }

    public string GetPosition() => loader.Position.ToString();

    public void SetPosition(string position) => loader.Seek(LoaderPosition.Parse(position));
}

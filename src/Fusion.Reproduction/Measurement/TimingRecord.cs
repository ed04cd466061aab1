namespace Fusion.Reproduction.Measurement;

/// <summary>One timed unit of the interleaved measurement (a row of <c>rounds.parquet</c>).</summary>
public sealed class TimingRecord
{
    public const string FileName = "rounds.parquet";
    public const string Train = "train_steps_per_second", Sample = "sample_images_per_second";

    public string Variant { get; set; } = "";
    /// <summary><see cref="Train"/> or <see cref="Sample"/>.</summary>
    public string Metric { get; set; } = "";
    public int Round { get; set; }
    public double PerSecond { get; set; }
}

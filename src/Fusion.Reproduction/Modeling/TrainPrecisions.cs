using Fusion.Models.Diffusion;

namespace Fusion.Reproduction.Modeling;

/// <summary>The training precision a run's <c>--dtype</c> gives the stages that train or time training.</summary>
public static class TrainPrecisions
{
    public static TrainPrecision Of(string dtype) => dtype switch
    {
        "float32" => TrainPrecision.Float32,
        "bfloat16" => TrainPrecision.BFloat16Mixed,
        _ => throw new ArgumentException($"training supports --dtype float32 or bfloat16 (bf16 compute, fp32 master weights), not {dtype}"),
    };
}

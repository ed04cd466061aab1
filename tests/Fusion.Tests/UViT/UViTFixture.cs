using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>
/// One golden fixture of tests/fixtures/uvit: reference weights, inputs and the authors' output. A set holds any number of
/// VARIANT.weights.safetensors + VARIANT.io.safetensors pairs; each weights file's __metadata__ carries the authors'
/// constructor arguments (variant, c, v, sizes), so the file name is only a label.
/// </summary>
internal sealed class UViTFixture : IDisposable
{
    public const string Folder = "uvit";
    private const string WeightsSuffix = ".weights.safetensors";

    public required UViTConfig Config { get; init; }
    public required Dictionary<string, Tensor> Weights { get; init; }
    public required Dictionary<string, Tensor> IO { get; init; }
    public required string WeightsPath { get; init; }

    /// <summary>Every variant the folder holds (sorted, for stable test names).</summary>
    public static string[] Variants() =>
        Directory.GetFiles(Fixtures.Path(Folder), "*" + WeightsSuffix).Select(f => Path.GetFileName(f)[..^WeightsSuffix.Length]).Order(StringComparer.Ordinal).ToArray();

    public static UViTFixture Load(string variant)
    {
        var weightsPath = Fixtures.Path(Folder, variant + WeightsSuffix);
        return new UViTFixture
        {
            Config = UViTConfig.FromReferenceArgs(SafetensorsMetadata.Read(weightsPath)),
            Weights = StateDict.Read(weightsPath),
            IO = StateDict.Read(Fixtures.Path(Folder, $"{variant}.io.safetensors")),
            WeightsPath = weightsPath,
        };
    }

    public void Dispose()
    {
        foreach (var t in Weights.Values.Concat(IO.Values)) t.Dispose();
    }
}

using System.Buffers.Binary;
using System.Text.Json;
using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using static TorchSharp.torch;

namespace Fusion.Tests.UViT;

/// <summary>One golden fixture of ../shared/fixtures/uvit: reference weights, inputs and the authors' output.</summary>
internal sealed class UViTFixture : IDisposable
{
    public const string Folder = "uvit";
    public static readonly string[] Variants = ["early-concat", "early-cross", "intermediate-concat", "intermediate-cross"];

    public required UViTConfig Config { get; init; }
    public required Dictionary<string, Tensor> Weights { get; init; }
    public required Dictionary<string, Tensor> IO { get; init; }
    public required string WeightsPath { get; init; }

    public static UViTFixture Load(string variant)
    {
        var weightsPath = Fixtures.Path(Folder, $"{variant}.weights.safetensors");
        var metadata = ReadMetadata(weightsPath);
        return new UViTFixture
        {
            Config = UViTConfig.FromReferenceArgs(metadata),
            Weights = StateDict.Read(weightsPath),
            IO = StateDict.Read(Fixtures.Path(Folder, $"{variant}.io.safetensors")),
            WeightsPath = weightsPath,
        };
    }

    /// <summary>The safetensors header's __metadata__ (string → string).</summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        f.ReadExactly(len);
        var header = new byte[checked((int)BinaryPrimitives.ReadUInt64LittleEndian(len))];
        f.ReadExactly(header);
        using var doc = JsonDocument.Parse(header);
        return doc.RootElement.TryGetProperty("__metadata__", out var meta)
            ? meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : throw new InvalidDataException($"{path}: no __metadata__ with the network config");
    }

    public void Dispose()
    {
        foreach (var t in Weights.Values.Concat(IO.Values)) t.Dispose();
    }
}

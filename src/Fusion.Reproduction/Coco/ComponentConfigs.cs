using System.Text.Json;
using Fusion.Models.Clip;
using Fusion.Models.Vae;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Coco;

/// <summary>
/// The architecture of a fetched component: the published one (CLIP ViT-L/14, SD KL-f8) unless the
/// <c>fetch-weights</c> node was given <c>hyperparameters</c> (openai CLIP keys, LDM <c>ddconfig</c> keys) for another checkpoint.
/// </summary>
public static class ComponentConfigs
{
    public static async Task<IReadOnlyDictionary<string, string>> HyperparametersAsync(InputArtifact weights, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(await weights.GetPathAsync(FetchWeightsStage.RecordFile, ct), ct));
        return doc.RootElement.TryGetProperty("hyperparameters", out var h) && h.ValueKind == JsonValueKind.Object
            ? h.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : new Dictionary<string, string>();
    }

    public static async Task<ClipConfig> ClipAsync(InputArtifact weights, CancellationToken ct)
    {
        var h = await HyperparametersAsync(weights, ct);
        return h.Count == 0 ? ClipConfig.ViTL14 : ClipConfig.FromOpenAIHyperparameters(h);
    }

    public static async Task<AutoencoderKLConfig> AutoencoderAsync(InputArtifact weights, double scaleFactor, CancellationToken ct)
    {
        var h = await HyperparametersAsync(weights, ct);
        return h.Count == 0 ? AutoencoderKLConfig.KlF8(scaleFactor) : AutoencoderKLConfig.FromLdmHyperparameters(h) with { ScaleFactor = scaleFactor };
    }
}

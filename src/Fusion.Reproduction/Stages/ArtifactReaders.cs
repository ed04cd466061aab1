using System.Runtime.InteropServices;
using System.Text.Json;
using Fusion.Artifacts.Tables;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

/// <summary>Readers of the upstream artifacts that more than one stage takes: each artifact is read one way.</summary>
public static class ArtifactReaders
{
    /// <summary>uint8 images [N, 3, S, S] of a shapes data split and each image's captions, in image-table order.</summary>
    public static async Task<(Tensor Images, List<IReadOnlyList<string>> Captions)> ReadShapesSplitAsync(InputArtifact data, string split, CancellationToken ct)
    {
        var imagesPath = (await data.PathsAsync(split, "images.parquet", ct)).Single();
        var captionsPath = (await data.PathsAsync(split, "captions.parquet", ct)).Single();
        var byImage = (await CaptionsTable.ReadAllAsync(captionsPath, ct)).GroupBy(c => c.ImageId).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.OrderBy(c => c.CaptionId).Select(c => c.Text).ToList());
        var rows = await TableTensors.ReadAsync([imagesPath], ct);
        var (ids, images) = (rows.Keys, rows.Values);
        var captions = ids.Select(id => byImage.TryGetValue(id, out var c) ? c : throw new InvalidDataException($"{captionsPath}: image {id} has no caption")).ToList();
        return (images, captions);
    }

    /// <summary>The image ids of a tensor table (its int64 keys), in row order, without reading the payloads.</summary>
    public static async Task<List<long>> ReadImageIdsAsync(string path, CancellationToken ct)
    {
        await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
        var ids = new List<long>();
        for (var g = 0; g < reader.RowGroupCount; g++) ids.AddRange((await reader.ReadRowGroupAsync(g, payloads: false, ct)).Int64Keys!);
        return ids;
    }

    /// <summary>The null caption's context [L, D] from the text artifact's <c>null_context.parquet</c>.</summary>
    public static async Task<Tensor> ReadNullContextAsync(InputArtifact text, CancellationToken ct)
    {
        var path = await text.GetPathAsync("null_context.parquet", ct);
        await using var reader = await TensorTableReader.OpenAsync(path, ct: ct);
        await foreach (var row in reader.ReadAllAsync(ct))
            return tensor(MemoryMarshal.Cast<byte, float>(row.Payload).ToArray(), reader.Spec.Shape.Select(d => (long)d).ToArray());
        throw new InvalidDataException($"{path}: the null-caption table is empty");
    }

    /// <summary>Local path of one file of a fetched component (a <c>fetch-weights</c> artifact).</summary>
    public static Task<string> WeightsPathAsync(InputArtifact weights, string fileName, CancellationToken ct) =>
        weights.GetPathAsync(PretrainedComponents.ArtifactPath(fileName), ct);

    /// <summary>The FID reference statistics of a <c>coco-fid-reference</c> artifact and their provenance (for metric labels).</summary>
    public static async Task<(ActivationStatistics Stats, Dictionary<string, string> Record)> ReadFidReferenceAsync(InputArtifact reference, CancellationToken ct)
    {
        var record = JsonSerializer.Deserialize<Dictionary<string, string>>(await File.ReadAllTextAsync(await reference.GetPathAsync(CocoFidReferenceStage.RecordFile, ct), ct))
                     ?? throw new InvalidDataException($"{reference.NodeId}: empty {CocoFidReferenceStage.RecordFile}");
        return (await FidStatistics.ReadAsync(await reference.GetPathAsync(CocoFidReferenceStage.StatsFile, ct), ct), record);
    }
}

using System.Text.Json;
using Fusion.Datasets.Coco;
using Fusion.Datasets.Download;
using Fusion.Models;
using Fusion.Models.Inception;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class CocoFidReferenceParams
{
    /// <summary>A published statistics file (pytorch-fid .npz with mu, sigma), e.g. U-ViT's fid_stats_mscoco256_val.npz.</summary>
    public string? NpzPath { get; set; }
    /// <summary>Where to download that file from (it is published on Google Drive only, so usually a mirror).</summary>
    public string? NpzUrl { get; set; }
    public string? Sha256 { get; set; }
    /// <summary>Without a published file: compute from this split's images (0 = all of them, else the first N by id).</summary>
    public CocoSplit Split { get; set; } = CocoSplit.Val;
    [ParamRange(Min = 0)]
    public int MaxImages { get; set; }
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 50;
}

/// <summary>
/// The FID reference statistics as <c>reference.parquet</c> (a <see cref="StatisticsTable"/>: float64 mu and sigma)
/// with <c>reference.json</c> saying where they come from: imported from the published <c>fid_stats_mscoco256_val.npz</c> (path or URL), or computed
/// from the val images' 256² centre crops (Pillow-exact LANCZOS) through exactly the path samples take (uint8 → [0, 1] → FID
/// Inception-v3, bilinear 299).
/// </summary>
[UsesPackages("Parquet.Net", "SixLabors.ImageSharp", "TorchSharp.PyBridge")]
public sealed class CocoFidReferenceStage : StageKind<CocoFidReferenceParams>
{
    public const string StatsFile = "reference.parquet";
    public const string RecordFile = "reference.json";

    public override string Name => "coco-fid-reference";
    // 3: computed statistics start from Pillow-exact pixels (libjpeg-turbo decoding, Pillow's fixed-point LANCZOS).
    public override string CodeVersion => "3";
    public override IReadOnlyList<StageInput> Inputs => [new("data", Optional: true), new("inception", Optional: true)];
    public override IReadOnlyList<string> Outputs => [StatsFile, RecordFile];

    public override async Task RunAsync(StageContext context, CocoFidReferenceParams p)
    {
        var ct = context.CancellationToken;
        Dictionary<string, string> record;
        if (p.NpzPath is not null || p.NpzUrl is not null)
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var url = p.NpzUrl is { } u ? new Uri(u) : new Uri(Path.GetFullPath(p.NpzPath!));
            var result = await new HttpDownloader(http).DownloadAsync(
                new DownloadSource(url, Path.Combine(context.ScratchDirectory, "stats.npz")) { Sha256 = p.Sha256, LocalPath = p.NpzPath }, null, ct);
            using var stats = ActivationStatistics.LoadNpz(result.Path);   // validates mu / sigma
            if (stats.Dim != FidFeatures.Dim) throw new InvalidDataException($"{p.NpzPath ?? p.NpzUrl}: statistics of dimension {stats.Dim}, FID Inception pool3 has {FidFeatures.Dim}");
            await FidStatistics.WriteAsync(context.OutputPath(StatsFile), stats, ct: ct);
            if (p.Sha256 is null) context.Logger.LogWarning("coco-fid-reference: no SHA-256 pinned for {Source}; recorded {Sha}", p.NpzPath ?? p.NpzUrl, result.Sha256);
            record = new() { ["source"] = "imported", ["file"] = p.NpzPath ?? p.NpzUrl!, ["sha256"] = result.Sha256 };
        }
        else
        {
            if (!context.Inputs.TryGetValue("data", out var d) || d.Count != 1 || !context.Inputs.TryGetValue("inception", out var inc) || inc.Count != 1)
                throw new ArgumentException($"node {context.NodeId}: give npz_path / npz_url, or the 'data' and 'inception' inputs to compute the statistics");
            var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
            using var inception = FidInceptionV3.FromCheckpoint(await ArtifactReaders.WeightsPathAsync(inc[0], PretrainedComponents.Inception, ct));
            inception.to(device);
            var images = await CocoImageFiles.ReadAsync(d[0], p.Split.Name(), ct);
            if (p.MaxImages > 0) images = images.Take(p.MaxImages).ToList();
            using var acc = new ActivationAccumulator(FidFeatures.Dim);
            var skipped = new List<string>();
            var size = CocoImagePreprocessing.Resolution;
            for (var start = 0; start < images.Count; start += p.BatchSize)
            {
                ct.ThrowIfCancellationRequested();
                var batch = images.Skip(start).Take(p.BatchSize).ToList();
                var pixels = new List<byte[]>();
                foreach (var (id, path) in batch)
                {
                    try { pixels.Add(CocoImagePreprocessing.LoadRgb(path, size)); }
                    catch (Exception e) when (CocoImagePreprocessing.IsUndecodable(e))
                    {
                        skipped.Add($"{id}: {e.Message}");
                    }
                }
                if (pixels.Count == 0) continue;
                using var scope = NewDisposeScope();
                acc.Add(FidFeatures.Of(inception, FidFeatures.FromHwc(pixels.SelectMany(x => x).ToArray(), pixels.Count, size), device));
                context.Progress.Report(start + batch.Count, images.Count, "image");
            }
            foreach (var s in skipped) context.Logger.LogWarning("coco-fid-reference: skipped {Image}", s);
            using var stats = acc.Compute();
            await FidStatistics.WriteAsync(context.OutputPath(StatsFile), stats, ct: ct);
            record = new()
            {
                ["source"] = "computed", ["split"] = p.Split.Name(), ["images"] = acc.Count.ToString(), ["skipped"] = skipped.Count.ToString(),
                ["path"] = "Pillow 9.4-exact decode, centre crop + LANCZOS 256 (CocoImagePreprocessing), uint8 → /255 → FID Inception-v3 (bilinear 299) pool3",
            };
        }
        await File.WriteAllTextAsync(context.OutputPath(RecordFile), JsonSerializer.Serialize(record, new JsonSerializerOptions { WriteIndented = true }), ct);
        foreach (var (k, v) in record) context.Summary[k] = v;
    }
}

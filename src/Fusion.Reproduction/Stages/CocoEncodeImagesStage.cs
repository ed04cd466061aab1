using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Models;
using Fusion.Models.Vae;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class CocoEncodeImagesParams
{
    /// <summary>Splits to encode (training reads <c>train/moments-*.parquet</c>).</summary>
    public List<CocoSplit> Splits { get; set; } = [CocoSplit.Train];
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 32;
    /// <summary>Images per shard; finished shards survive an interruption.</summary>
    [ParamRange(Min = 1)]
    public int ShardSize { get; set; } = 5000;
}

/// <summary>Why an image of the split was left out (<c>skipped.parquet</c>).</summary>
public sealed class SkippedImageRecord
{
    public string Split { get; set; } = "";
    public long ImageId { get; set; }
    public string Reason { get; set; } = "";
}

/// <summary>
/// U-ViT's COCO feature extraction: Pillow-exact centre crop + LANCZOS 256 (<see cref="CocoImagePreprocessing"/>), x/127.5 − 1, the
/// KL-f8 encoder's moments (mean ‖ log-variance, float32 [8, 32, 32]) per image, in <c>{split}/moments-NNNNN.parquet</c>
/// shards keyed by image id (ascending). Undecodable images are skipped and listed in <c>skipped.parquet</c>. Shards
/// are written to scratch first, so an interrupted node resumes at the first missing shard.
/// </summary>
[UsesPackages("Parquet.Net", "SixLabors.ImageSharp", "TorchSharp.PyBridge")]
public sealed class CocoEncodeImagesStage : StageKind<CocoEncodeImagesParams>
{
    public override string Name => "coco-encode-images";
    // 2: pixels as Pillow 9.4 computes them (libjpeg-turbo decoding, Pillow's fixed-point LANCZOS), not ImageSharp's.
    public override string CodeVersion => "2";
    public override IReadOnlyList<StageInput> Inputs => [new("data"), new("vae")];
    public override IReadOnlyList<string> Outputs => ["skipped.parquet"];

    public override async Task RunAsync(StageContext context, CocoEncodeImagesParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var data = context.Input("data");
        var vaeInput = context.Input("vae");
        using var vae = AutoencoderKL.Load(await ArtifactReaders.WeightsPathAsync(vaeInput, PretrainedComponents.Autoencoder, ct),
            await ComponentConfigs.AutoencoderAsync(vaeInput, AutoencoderKLConfig.UViTMsCocoScale, ct));
        vae.to(device).eval();
        var f = vae.Config.DownsamplingFactor;
        var spec = TensorSpec.Float32(2 * vae.Config.EmbedDim, CocoImagePreprocessing.Resolution / f, CocoImagePreprocessing.Resolution / f);
        var skipped = new List<SkippedImageRecord>();

        foreach (var split in p.Splits.Select(x => x.Name()))
        {
            var images = await CocoImageFiles.ReadAsync(data, split, ct);
            var shards = (images.Count + p.ShardSize - 1) / p.ShardSize;
            var scratch = Path.Combine(context.ScratchDirectory, split);
            Directory.CreateDirectory(scratch);
            var encoded = 0;
            for (var s = 0; s < shards; s++)
            {
                var name = $"moments-{s:D5}.parquet";
                var path = Path.Combine(scratch, name);
                var skippedPath = path + ".skipped.parquet";
                var chunk = images.Skip(s * p.ShardSize).Take(p.ShardSize).ToList();
                if (!File.Exists(path))
                {
                    var shardSkipped = new List<SkippedImage>();
                    var tmp = path + ".tmp";
                    await using (var writer = await TensorTableWriter.CreateAsync(tmp, spec, ct: ct))
                    {
                        var done = 0;
                        foreach (var batch in CocoImagePreprocessing.PreprocessInOrder(chunk, shardSkipped, ct: ct).Chunk(p.BatchSize))
                        {
                            ct.ThrowIfCancellationRequested();
                            float[] moments;
                            using (no_grad())
                            using (var scope = NewDisposeScope())
                            {
                                var x = tensor(batch.SelectMany(b => b.Chw).ToArray(), [batch.Length, 3, CocoImagePreprocessing.Resolution, CocoImagePreprocessing.Resolution]);
                                moments = vae.EncodeMoments(x.to(device)).cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
                            }
                            var per = (int)spec.ElementCount;
                            for (var i = 0; i < batch.Length; i++) await writer.AddAsync(batch[i].ImageId, moments.AsSpan(i * per, per), ct: ct);
                            done += batch.Length;
                            context.Progress.Report(encoded + done + shardSkipped.Count, images.Count, "image");
                        }
                        await writer.CompleteAsync(ct);
                    }
                    await RecordsTable.WriteAsync(skippedPath, shardSkipped.Select(k => new SkippedImageRecord { Split = split, ImageId = k.ImageId, Reason = k.Reason }), ct: ct);
                    File.Move(tmp, path);
                }
                var shardSkips = await RecordsTable.ReadAllAsync<SkippedImageRecord>(skippedPath, ct);
                skipped.AddRange(shardSkips);
                encoded += chunk.Count;
                context.Progress.Report(encoded, images.Count, "image");
                File.Copy(path, context.OutputPath($"{split}/{name}"));
            }
            context.Summary[$"{split}_images"] = (images.Count - skipped.Count(k => k.Split == split)).ToString();
        }
        foreach (var k in skipped) context.Logger.LogWarning("coco-encode-images: skipped {Split} image {Id}: {Reason}", k.Split, k.ImageId, k.Reason);
        await RecordsTable.WriteAsync(context.OutputPath("skipped.parquet"), skipped, ct: ct);
        context.Summary["skipped"] = skipped.Count.ToString();
    }
}

using System.Text.Json;
using Fusion.Artifacts.Store.Local;
using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Inception;
using Fusion.Models.Vae;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Stages;
using Fusion.Tests.Datasets;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.PyBridge;
using Xunit;

namespace Fusion.Tests.Reproduction;

/// <summary>
/// The whole COCO DAG (weights → download → encoders → FID reference → train → sample with latent decoding →
/// evaluate → measure → report) on a generated mini-COCO served over HTTP, with tiny random-weight CLIP and KL
/// autoencoder files and a random-weight FID Inception, all written in the published formats (HF safetensors, zip .pth).
/// </summary>
public sealed class CocoEndToEndTests : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private readonly LocalHttpServer server = new();
    private MiniCoco coco = null!;

    private static readonly string[] ClipHyper = TinyPretrained.ClipHyper;
    private static readonly string[] VaeHyper = TinyPretrained.VaeHyper;

    public Task InitializeAsync()
    {
        coco = MiniCoco.Create(dir["coco"], id => server.Url("images/" + MiniCoco.FileName(id)).ToString());
        coco.Serve(server);

        // The stand-in pretrained networks, built in one seeded, gated draw: the same weights whatever runs beside this.
        var (clip, vae, inception) = TorchRandom.Seeded(11, () => (new ClipModel(TinyPretrained.ClipConfig), new AutoencoderKL(TinyPretrained.VaeConfig), new FidInceptionV3()));
        Directory.CreateDirectory(dir["clip"]);
        using (clip) clip.save_safetensors(Path.Combine(dir["clip"], PretrainedComponents.ClipWeights));
        TinyPretrained.WriteByteLevelVocabulary(Path.Combine(dir["clip"], PretrainedComponents.ClipVocab), Path.Combine(dir["clip"], PretrainedComponents.ClipMerges));
        using (vae) vae.save_py(dir[PretrainedComponents.Autoencoder]);
        using (inception) inception.save_py(dir[PretrainedComponents.Inception]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    private static string List(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(i => $"\"{i}\"")) + "]";

    [Fact]
    public async Task Runs_the_coco_dag_on_a_mini_coco_with_tiny_weights()
    {
        var yaml = $$$"""
            stages:
              clip-weights: {kind: fetch-weights, params: {component: clip-vit-large-patch14, local_path: "{{{dir["clip"]}}}", allow_unpinned: true, hyperparameters: {{{List(ClipHyper)}}}}}
              vae-weights: {kind: fetch-weights, params: {component: autoencoder-kl, local_path: "{{{dir[PretrainedComponents.Autoencoder]}}}", allow_unpinned: true, hyperparameters: {{{List(VaeHyper)}}}}}
              inception-weights: {kind: fetch-weights, params: {component: fid-inception, local_path: "{{{dir[PretrainedComponents.Inception]}}}", allow_unpinned: true}}
              coco: {kind: coco-download, params: {train_subset: 5, val_subset: 5, annotations_url: "{{{server.Url("annotations_trainval2014.zip")}}}"}}
              latents: {kind: coco-encode-images, inputs: {data: coco, vae: vae-weights}, params: {batch_size: 2, shard_size: 2}}
              text: {kind: coco-encode-captions, inputs: {data: coco, clip: clip-weights}, params: {eval_count: 4, grid_prompts: ["five buses driving on a snowy mountain.", "a cat"]}}
              fid-reference: {kind: coco-fid-reference, inputs: {data: coco, inception: inception-weights}, params: {batch_size: 3}}
              train:
                kind: train
                inputs: {data: latents, text: text}
                params: {patch_size: 2, embed_dim: 32, depth: 6, num_heads: 4, c: 1, v: 2, steps: 3, batch_size: 4, warmup_steps: 1, save_every: 2, log_every: 1}
                variants: [early-concat, intermediate-cross]
              sample: {kind: sample, variants: train, inputs: {model: train, text: text, vae: vae-weights}, params: {batch_size: 3, steps: 2, shard_size: 3, grid_columns: 1}}
              evaluate: {kind: coco-evaluate, variants: train, inputs: {samples: sample, text: text, reference: fid-reference, inception: inception-weights, clip: clip-weights}, params: {batch_size: 3, bootstrap_resamples: 20}}
              measure: {kind: measure, inputs: {model: "train[*]"}, params: {batch_size: 2, warmup_steps: 1, timed_steps: 1, rounds: 2, sample_batch: 1, sample_steps: 1}}
              report: {kind: report, inputs: {train: "train[*]", measure: measure, evaluate: "evaluate[*]", sample: "sample[*]"}}
            """;
        var path = dir["coco.yaml"];
        await File.WriteAllTextAsync(path, yaml);
        var registry = new StageRegistry().AddAssembly(typeof(TrainStage).Assembly).AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);
        var facts = EnvironmentFacts.Of(("device", "cpu"), ("dtype", "float32"));
        var pipeline = PipelineLoader.Load(path, registry);
        var store = new LocalArtifactStore(dir["store"]);
        var run = await new Executor(store, registry, new FixedEnvironmentFacts(facts), NullLoggerFactory.Instance).RunAsync(pipeline, new RunOptions());
        foreach (var n in run.Nodes) Assert.True(n.State == NodeState.Ran, $"{n.NodeId}: {n.State} {n.Error}");
        var plan = Fingerprinter.Compute(pipeline, registry, facts);
        async Task<InputArtifact> Artifact(string node) => new(node, (await store.GetManifestAsync(plan[node].Fingerprint)).Manifest!, store);

        // Images: captioned 9, 25, 42, 73, 74; 25 is a corrupt JPEG, skipped and listed; shards of 2 in id order.
        var latents = await Artifact("latents");
        var ids = new List<long>();
        foreach (var shard in await latents.PathsAsync("train", ".parquet"))
        {
            await using var reader = await TensorTableReader.OpenAsync(shard);
            Assert.Equal([8, 8, 8], reader.Spec.Shape);
            await foreach (var row in reader.ReadAllAsync()) ids.Add(row.Int64Key);
        }
        Assert.Equal([9L, 42, 73, 74], ids);
        Assert.Equal(MiniCoco.CorruptId, (await RecordsTable.ReadAllAsync<SkippedImageRecord>(await latents.GetPathAsync("skipped.parquet"))).Single().ImageId);

        // Captions: the evaluation list is EvalCaptions.Choose on the annotation file.
        var text = await Artifact("text");
        var eval = await CaptionsTable.ReadAllAsync(await text.GetPathAsync("eval/captions.parquet"));
        Assert.Equal(EvalCaptions.Choose(CocoCaptions.Load(coco.CaptionsJson), 4, 1).Select(e => e.CaptionId), eval.Select(e => e.CaptionId));
        await using (var grid = await TensorTableReader.OpenAsync(await text.GetPathAsync("grid/contexts.parquet")))
            Assert.Equal([77, 64], grid.Spec.Shape);

        // Samples are decoded to 256² uint8 images keyed by caption id.
        var samples = await Artifact("sample[intermediate-cross]");
        var keys = new List<long>();
        foreach (var shard in await samples.PathsAsync("samples", ".parquet"))
        {
            await using var reader = await TensorTableReader.OpenAsync(shard);
            Assert.Equal(TensorDType.UInt8, reader.Spec.DType);
            Assert.Equal([3, 256, 256], reader.Spec.Shape);
            await foreach (var row in reader.ReadAllAsync()) keys.Add(row.Int64Key);
        }
        Assert.Equal(eval.Select(e => e.CaptionId), keys);

        var reference = JsonSerializer.Deserialize<Dictionary<string, string>>(await File.ReadAllTextAsync(await (await Artifact("fid-reference")).GetPathAsync(CocoFidReferenceStage.RecordFile)))!;
        Assert.Equal("computed", reference["source"]);
        Assert.Equal("4", reference["images"]);

        var metrics = (await MetricsTable.ReadAsync(await (await Artifact("evaluate[early-concat]")).GetPathAsync("metrics.parquet"))).ToDictionary(m => m.Name);
        Assert.True(double.IsFinite(metrics["fid"].Value) && metrics["fid"].Value >= 0);
        Assert.InRange(metrics["clip_score"].Value, 0, 100);
        Assert.InRange(metrics["clip_s"].Value, 0, 2.5);
        Assert.Equal(4, metrics["images"].Value);
        // The stored statistics of both sides give the reported FID again.
        using (var generatedStats = await FidStatistics.ReadAsync(await (await Artifact("evaluate[early-concat]")).GetPathAsync("statistics.parquet")))
        using (var referenceStats = await FidStatistics.ReadAsync(await (await Artifact("fid-reference")).GetPathAsync(CocoFidReferenceStage.StatsFile)))
        {
            Assert.Equal(4, generatedStats.Count);
            Assert.Equal(4, referenceStats.Count);
            Assert.Equal(metrics["fid"].Value, Fusion.Models.Metrics.FrechetDistance.Compute(generatedStats, referenceStats));
        }

        var csv = await File.ReadAllLinesAsync(await (await Artifact("report")).GetPathAsync("results.csv"));
        var header = csv[0].Split(',');
        var row0 = csv.Single(l => l.StartsWith("early-concat,", StringComparison.Ordinal)).Split(',');
        Assert.Equal(metrics["clip_s"].Value, double.Parse(row0[Array.IndexOf(header, "clip_s")], System.Globalization.CultureInfo.InvariantCulture));
    }
}

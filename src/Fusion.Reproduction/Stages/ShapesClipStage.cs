using Fusion.Artifacts.Tables;
using Fusion.Datasets.Shapes;
using Fusion.Models.Clip;
using Fusion.Models;
using Fusion.Reproduction.Shapes;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class ShapesClipParams
{
    [ParamRange(Min = 1)]
    public int Width { get; set; } = 64;
    [ParamRange(Min = 1)]
    public int Layers { get; set; } = 2;
    [ParamRange(Min = 1)]
    public int Heads { get; set; } = 4;
    [ParamRange(Min = 1)]
    public int ProjectionDim { get; set; } = 64;
    [ParamRange(Min = 1)]
    public int PatchSize { get; set; } = 4;
    /// <summary>Tokens per caption (start + words + end, end-padded).</summary>
    [ParamRange(Min = 3)]
    public int ContextLength { get; set; } = 16;
    [ParamRange(Min = 1)]
    public int Steps { get; set; } = 600;
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 128;
    [ParamRange(Above = 0)]
    public double LearningRate { get; set; } = 1e-3;
    [ParamRange(Min = 0)]
    public double WeightDecay { get; set; } = 0.1;
    public long Seed { get; set; } = 7;
    [ParamRange(Min = 0)]
    public int SaveEvery { get; set; } = 200;
}

/// <summary>
/// Trains the shapes CLIP contrastively on image–caption pairs (one random caption per image per step), checkpointing
/// into the node's scratch space, and reports its image→text retrieval accuracy on val so users can judge it.
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge")]
public sealed class ShapesClipStage : StageKind<ShapesClipParams>
{
    public override string Name => "shapes-clip";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("data")];
    public override IReadOnlyList<string> Outputs => [ShapesClipSpec.WeightsFile, ShapesClipSpec.SpecFile, "metrics.parquet"];

    public override async Task RunAsync(StageContext context, ShapesClipParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var data = context.Input("data");
        var (trainImages, trainCaptions) = await ArtifactReaders.ReadShapesSplitAsync(data, "train", ct);
        var (valImages, valCaptions) = await ArtifactReaders.ReadShapesSplitAsync(data, "val", ct);
        var size = (int)trainImages.shape[^1];

        var tokenizer = ShapesTokenizer.Fit(trainCaptions.SelectMany(c => c), p.ContextLength);
        var tower = new ClipTowerConfig(p.Width, p.Layers, p.Heads, 4 * p.Width);
        var spec = new ShapesClipSpec(new ClipConfig(tower, tower, p.ProjectionDim, size, p.PatchSize, tokenizer.VocabSize, p.ContextLength), tokenizer.Vocabulary);

        using var model = TorchRandom.Seeded(p.Seed, () => new ClipModel(spec.Config));
        model.to(device).train();
        using var optimizer = optim.AdamW(model.parameters(), p.LearningRate, weight_decay: p.WeightDecay);

        // Resume: weights + optimizer + step from scratch. Batches are a function of (seed, step), so no RNG state is needed.
        var ckpt = Path.Combine(context.ScratchDirectory, "clip-ckpt");
        var step = 0;
        if (File.Exists(Path.Combine(ckpt, "step.txt")))
        {
            step = int.Parse(File.ReadAllText(Path.Combine(ckpt, "step.txt")));
            Fusion.Models.Weights.StateDict.LoadStrict(model, Path.Combine(ckpt, ShapesClipSpec.WeightsFile));
            optimizer.load_py(Path.Combine(ckpt, "optimizer.pt"));
            context.Logger.LogInformation("shapes-clip: resuming at step {Step}", step);
        }

        var n = (int)trainImages.shape[0];
        double loss = double.NaN;
        while (step < p.Steps)
        {
            if (ct.IsCancellationRequested) { Save(model, optimizer, ckpt, step); ct.ThrowIfCancellationRequested(); }
            using var scope = NewDisposeScope();
            var rng = new Random(unchecked((int)(p.Seed * 1_000_003 + step)));   // not HashCode: that is seeded per process
            var idx = Enumerable.Range(0, p.BatchSize).Select(_ => rng.Next(n)).ToArray();
            var texts = idx.Select(i => trainCaptions[i][rng.Next(trainCaptions[i].Count)]).ToList();
            var ids = tensor(tokenizer.EncodeBatch(texts), [p.BatchSize, p.ContextLength]).to(device);
            var pixels = ShapesClipSpec.Pixels(trainImages.index_select(0, tensor(idx.Select(i => (long)i).ToArray()))).to(device);
            var output = model.forward(ids, pixels);
            var l = ClipModel.ContrastiveLoss(output.LogitsPerText);
            optimizer.zero_grad();
            l.backward();
            ScalarMath.WithoutCollection(() => optimizer.step());
            using var scaleMin = 0.ToScalar();
            using var scaleMax = Math.Log(100).ToScalar();
            using (no_grad()) model.LogitScale.clamp_(scaleMin, scaleMax);   // openai clamps the temperature at 100
            loss = l.item<float>();
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"shapes-clip: loss is {loss} at step {step + 1}");
            step++;
            context.Progress.Report(step, p.Steps, "step");
            if (p.SaveEvery > 0 && step % p.SaveEvery == 0 && step < p.Steps) Save(model, optimizer, ckpt, step);
        }

        model.eval();
        var (top1, chance) = RetrievalAccuracy(model, tokenizer, valImages, valCaptions, device);
        context.Logger.LogInformation("shapes-clip: val image→text top-1 {Top1:P1} (chance {Chance:P1}), final loss {Loss:F4}", top1, chance, loss);
        model.save_safetensors(context.OutputPath(ShapesClipSpec.WeightsFile));
        spec.Save(context.OutputPath(ShapesClipSpec.SpecFile));
        await MetricsTable.WriteAsync(context.OutputPath("metrics.parquet"),
        [
            new MetricRow("retrieval_top1", top1, "fraction", new Dictionary<string, string> { ["split"] = "val", ["direction"] = "image→text" }),
            new MetricRow("retrieval_chance", chance, "fraction", new Dictionary<string, string> { ["split"] = "val" }),
            new MetricRow("final_loss", loss, "nats"),
        ], ct: ct);
        context.Summary["retrieval_top1"] = top1.ToString("F4");
        context.Summary["final_loss"] = loss.ToString("F4");
    }

    private static void Save(ClipModel model, TorchSharp.Modules.OptimizerHelper optimizer, string folder, int step)
    {
        var tmp = folder + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        model.save_safetensors(Path.Combine(tmp, ShapesClipSpec.WeightsFile));
        optimizer.save_py(Path.Combine(tmp, "optimizer.pt"));
        File.WriteAllText(Path.Combine(tmp, "step.txt"), step.ToString());
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
        Directory.Move(tmp, folder);
    }

    /// <summary>
    /// For each val image, the nearest of all distinct val caption texts must be one of its own captions. Chance is the
    /// mean share of distinct texts that are true for an image.
    /// </summary>
    public static (double Top1, double Chance) RetrievalAccuracy(ClipModel model, ShapesTokenizer tokenizer, Tensor images, IReadOnlyList<IReadOnlyList<string>> captions, Device device)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var texts = captions.SelectMany(c => c).Distinct().ToList();
        var textIndex = texts.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        var textEmb = nn.functional.normalize(model.GetTextFeatures(tensor(tokenizer.EncodeBatch(texts), [texts.Count, tokenizer.ContextLength]).to(device)), dim: -1);
        var correct = 0;
        double chance = 0;
        for (var start = 0; start < images.shape[0]; start += 256)
        {
            var len = (int)Math.Min(256, images.shape[0] - start);
            var img = nn.functional.normalize(model.GetImageFeatures(ShapesClipSpec.Pixels(images.narrow(0, start, len)).to(device)), dim: -1);
            var best = img.matmul(textEmb.t()).argmax(1).cpu().data<long>().ToArray();
            for (var i = 0; i < len; i++)
            {
                var truth = captions[start + i].Select(t => textIndex[t]).ToHashSet();
                if (truth.Contains((int)best[i])) correct++;
                chance += (double)truth.Count / texts.Count;
            }
        }
        return ((double)correct / images.shape[0], chance / images.shape[0]);
    }
}

using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Reproduction.Shapes;
using Fusion.Workflow.Stages;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class ShapesEncodeParams
{
    /// <summary>Evaluation prompts: the first N val images in id order, one caption each chosen with <see cref="EvalSeed"/>.</summary>
    public int EvalCount { get; set; } = 256;
    public long EvalSeed { get; set; } = 1;
    /// <summary>Fixed prompts for the sample grids (counting and spatial relations).</summary>
    public List<string> GridPrompts { get; set; } =
    [
        "one red circle", "two blue squares", "three green triangles", "four yellow circles",
        "a red square to the left of a blue circle", "a green circle above a yellow triangle",
        "two blue triangles below a red square", "a yellow square to the right of two green circles",
    ];
    public int BatchSize { get; set; } = 512;
}

/// <summary>
/// Encodes every caption with the frozen shapes CLIP text tower (last hidden state, as U-ViT conditions on CLIP's):
/// <c>train/contexts.parquet</c> (key caption id, with image id), the null caption's context
/// <c>null_context.parquet</c> (CLIP of "", U-ViT's upstream choice), the evaluation list <c>eval/contexts.parquet</c>
/// + <c>eval/captions.parquet</c>, and the grid prompts <c>grid/contexts.parquet</c> (key = prompt).
/// </summary>
public sealed class ShapesEncodeStage : StageKind<ShapesEncodeParams>
{
    public override string Name => "shapes-encode";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("data"), new("clip")];
    public override IReadOnlyList<string> Outputs => ["train/contexts.parquet", "null_context.parquet", "eval/contexts.parquet", "eval/captions.parquet", "grid/contexts.parquet"];

    public override async Task RunAsync(StageContext context, ShapesEncodeParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var clip = context.Input("clip");
        var (model, spec) = ShapesClipSpec.LoadTrained(await clip.GetPathAsync(ShapesClipSpec.SpecFile, ct), await clip.GetPathAsync(ShapesClipSpec.WeightsFile, ct), device);
        using var _ = model;
        var tokenizer = spec.Tokenizer();
        var contextSpec = TensorSpec.Float32(spec.Config.ContextLength, spec.Config.Text.Width);
        var data = context.Input("data");

        float[] Hidden(IReadOnlyList<string> texts)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return model.TextHiddenStates(tensor(tokenizer.EncodeBatch(texts), [texts.Count, tokenizer.ContextLength]).to(device)).cpu().contiguous().data<float>().ToArray();
        }
        Task Encode(string path, IReadOnlyList<CaptionToEncode> rows, bool withImageId) =>
            ContextTables.WriteAsync(path, contextSpec, rows, withImageId, Hidden, p.BatchSize, n => context.Progress.Report(n, rows.Count, "caption"), ct);

        var train = await CaptionsTable.ReadAllAsync((await data.PathsAsync("train", "captions.parquet", ct)).Single(), ct);
        await Encode(context.OutputPath("train/contexts.parquet"), train.Select(c => new CaptionToEncode(c.CaptionId, null, c.ImageId, c.Text)).ToList(), true);
        await Encode(context.OutputPath("null_context.parquet"), [new CaptionToEncode(0, null, 0, "")], false);

        var val = await CaptionsTable.ReadAllAsync((await data.PathsAsync("val", "captions.parquet", ct)).Single(), ct);
        var eval = EvalCaptions(val, p.EvalCount, p.EvalSeed);
        await CaptionsTable.WriteAsync(context.OutputPath("eval/captions.parquet"), eval,
            new Dictionary<string, string> { ["eval.seed"] = p.EvalSeed.ToString(), ["eval.count"] = eval.Count.ToString() }, ct: ct);
        await Encode(context.OutputPath("eval/contexts.parquet"), eval.Select(c => new CaptionToEncode(c.CaptionId, null, c.ImageId, c.Text)).ToList(), true);
        await Encode(context.OutputPath("grid/contexts.parquet"), p.GridPrompts.Select(t => new CaptionToEncode(0, t, 0, t)).ToList(), false);
        context.Summary["train_captions"] = train.Count.ToString();
        context.Summary["eval_captions"] = eval.Count.ToString();
    }

    /// <summary>The first <paramref name="count"/> images in ascending id order, one caption each drawn with a seeded generator.</summary>
    public static List<CaptionRow> EvalCaptions(IReadOnlyList<CaptionRow> captions, int count, long seed)
    {
        var images = captions.GroupBy(c => c.ImageId).OrderBy(g => g.Key).Take(count).ToList();
        if (images.Count < count) throw new ArgumentException($"eval_count {count} exceeds the {images.Count} captioned val images");
        var rng = new Random(unchecked((int)seed));
        return images.Select(g => { var list = g.OrderBy(c => c.CaptionId).ToList(); return list[rng.Next(list.Count)]; }).ToList();
    }
}

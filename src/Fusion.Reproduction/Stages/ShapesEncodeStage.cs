using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Models;
using Fusion.Reproduction.Shapes;
using Fusion.Workflow.Stages;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class ShapesEncodeParams
{
    /// <summary>Evaluation prompts: the first N val images in id order, one caption each chosen with <see cref="EvalSeed"/>
    /// (<see cref="EvalCaptions.Choose(IEnumerable{CaptionRow}, int, long, string)"/>, as for COCO).</summary>
    [ParamRange(Min = 1)]
    public int EvalCount { get; set; } = 256;
    public long EvalSeed { get; set; } = 1;
    /// <summary>Fixed prompts for the sample grids (counting and spatial relations), in the captions' own words ("a", not "one").</summary>
    public List<string> GridPrompts { get; set; } =
    [
        "a red circle", "two blue squares", "three green triangles", "four yellow circles",
        "a red square to the left of a blue circle", "a green circle above a yellow triangle",
        "two blue triangles below a red square", "a yellow square to the right of two green circles",
    ];
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 512;
}

/// <summary>
/// Encodes every caption with the frozen shapes CLIP text tower (last hidden state, as U-ViT conditions on CLIP's):
/// <c>train/contexts.parquet</c> (key caption id, with image id), the null caption's context
/// <c>null_context.parquet</c> (CLIP of "", U-ViT's upstream choice), the evaluation list <c>eval/contexts.parquet</c>
/// + <c>eval/captions.parquet</c>, and the grid prompts <c>grid/contexts.parquet</c> (key = prompt).
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge")]
public sealed class ShapesEncodeStage : StageKind<ShapesEncodeParams>
{
    public override string Name => "shapes-encode";
    public override string CodeVersion => "2"; // 2: evaluation captions by the shared EvalCaptions rule
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
        var eval = EvalCaptions.Choose(val, p.EvalCount, p.EvalSeed, "shapes val captions");
        await EvalCaptions.WriteAsync(context.OutputPath("eval/captions.parquet"), eval, p.EvalSeed, ct);
        await Encode(context.OutputPath("eval/contexts.parquet"), eval.Select(c => new CaptionToEncode(c.CaptionId, null, c.ImageId, c.Text)).ToList(), true);
        await Encode(context.OutputPath("grid/contexts.parquet"), p.GridPrompts.Select(t => new CaptionToEncode(0, t, 0, t)).ToList(), false);
        context.Summary["train_captions"] = train.Count.ToString();
        context.Summary["eval_captions"] = eval.Count.ToString();
    }

}

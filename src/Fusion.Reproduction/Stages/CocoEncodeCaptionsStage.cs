using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

public sealed class CocoEncodeCaptionsParams
{
    /// <summary>Evaluation captions: the first N captioned val images (ascending id), one caption each chosen with <see cref="EvalSeed"/>.</summary>
    [ParamRange(Min = 1)]
    public int EvalCount { get; set; } = 30_000;
    public long EvalSeed { get; set; } = 1;
    /// <summary>U-ViT's 12 visualisation prompts (scripts/extract_test_prompt_feature.py) and the fork's counting prompt.</summary>
    public List<string> GridPrompts { get; set; } =
    [
        "A green train is coming down the tracks.", "A group of skiers are preparing to ski down a mountain.",
        "A small kitchen with a low ceiling.", "A group of elephants walking in muddy water.",
        "A living area with a television and a table.", "A road with traffic lights, street lights and cars.",
        "A bus driving in a city area with traffic signs.", "A bus pulls over to the curb close to an intersection.",
        "A group of people are walking and one is holding an umbrella.", "A baseball player taking a swing at an incoming ball.",
        "A city street line with brick buildings and trees.", "A close up of a plate of broccoli and sauce.",
        "five buses driving on a snowy mountain.",
    ];
    [ParamRange(Min = 1)]
    public int BatchSize { get; set; } = 64;
}

/// <summary>
/// U-ViT's <c>FrozenCLIPEmbedder</c>: HF-convention tokens (77, padded with &lt;|endoftext|&gt;, no attention mask) through
/// the CLIP ViT-L/14 text tower, last hidden state [77, 768] float32. Writes <c>train/contexts.parquet</c> (key caption
/// id, with image id), <c>null_context.parquet</c> (CLIP of "", U-ViT's choice), the evaluation list
/// <c>eval/captions.parquet</c> + <c>eval/contexts.parquet</c> (<see cref="EvalCaptions.Choose"/>) and
/// <c>grid/contexts.parquet</c> (key = prompt).
/// </summary>
[UsesPackages("Parquet.Net", "TorchSharp.PyBridge")]
public sealed class CocoEncodeCaptionsStage : StageKind<CocoEncodeCaptionsParams>
{
    public override string Name => "coco-encode-captions";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("data"), new("clip")];
    public override IReadOnlyList<string> Outputs => ["train/contexts.parquet", "null_context.parquet", "eval/contexts.parquet", "eval/captions.parquet", "grid/contexts.parquet"];

    public override async Task RunAsync(StageContext context, CocoEncodeCaptionsParams p)
    {
        var ct = context.CancellationToken;
        var device = TorchEnvironment.ResolveDevice(context.Environment.Device);
        var clip = context.Input("clip");
        var tokenizer = ClipTokenizer.FromHuggingFaceFiles(await ArtifactReaders.WeightsPathAsync(clip, PretrainedComponents.ClipVocab, ct),
            await ArtifactReaders.WeightsPathAsync(clip, PretrainedComponents.ClipMerges, ct));
        var config = await ComponentConfigs.ClipAsync(clip, ct);
        using var model = ClipTextModel.Load(await ArtifactReaders.WeightsPathAsync(clip, PretrainedComponents.ClipWeights, ct), config);
        model.to(device).eval();
        var tokens = ClipTokenizerOptions.HuggingFace with { ContextLength = config.ContextLength };
        var contextSpec = TensorSpec.Float32(config.ContextLength, config.Text.Width);
        var data = context.Input("data");
        var train = await CocoImageFiles.ReadCaptionsAsync(data, "train", ct);
        var val = await CocoImageFiles.ReadCaptionsAsync(data, "val", ct);
        var eval = EvalCaptions.Choose(val, Math.Min(p.EvalCount, val.CaptionedImages.Count()), p.EvalSeed);
        if (eval.Count < p.EvalCount) context.Summary["eval_count_reduced"] = $"{p.EvalCount} → {eval.Count} (val images available)";

        var trainRows = train.Rows().OrderBy(r => r.CaptionId).Select(r => new CaptionToEncode(r.CaptionId, null, r.ImageId, r.Text)).ToList();
        var total = trainRows.Count + 1 + eval.Count + p.GridPrompts.Count;
        var done = 0;
        float[] Hidden(IReadOnlyList<string> texts)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return model.forward(tokenizer.Tokenize(texts, tokens).to(device)).cpu().to(ScalarType.Float32).contiguous().data<float>().ToArray();
        }
        async Task Encode(string path, IReadOnlyList<CaptionToEncode> rows, bool withImageId)
        {
            var before = done;
            await ContextTables.WriteAsync(path, contextSpec, rows, withImageId, Hidden, p.BatchSize, n => context.Progress.Report(done = before + n, total, "caption"), ct);
        }

        await Encode(context.OutputPath("train/contexts.parquet"), trainRows, true);
        await Encode(context.OutputPath("null_context.parquet"), [new CaptionToEncode(0, null, 0, "")], false);
        await EvalCaptions.WriteAsync(context.OutputPath("eval/captions.parquet"), eval, p.EvalSeed, ct);
        await Encode(context.OutputPath("eval/contexts.parquet"), eval.Select(e => new CaptionToEncode(e.CaptionId, null, e.ImageId, e.Text)).ToList(), true);
        await Encode(context.OutputPath("grid/contexts.parquet"), p.GridPrompts.Select(t => new CaptionToEncode(0, t, 0, t)).ToList(), false);
        context.Summary["train_captions"] = trainRows.Count.ToString();
        context.Summary["eval_captions"] = eval.Count.ToString();
    }
}

using Fusion.Datasets.Shapes;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

public sealed class ShapesDataParams
{
    [ParamRange(Min = 1)]
    public int TrainImages { get; set; } = 4096;
    [ParamRange(Min = 1)]
    public int ValImages { get; set; } = 512;
    /// <summary>Image side in pixels (even; the generator needs at least 16 to place its shapes).</summary>
    [ParamRange(Min = 16)]
    public int Size { get; set; } = 32;
    [ParamRange(Min = 0, Max = 1)]
    public double RelationFraction { get; set; } = 0.75;
    /// <summary>Object sides as fractions of a cell (half the image side); see <see cref="ShapesOptions.ObjectSizeMin"/>.</summary>
    [ParamRange(Above = 0, Below = 1)]
    public double ObjectSizeMin { get; set; } = AlignmentScorer.SmallestObjectFraction;
    [ParamRange(Above = 0, Below = 1)]
    public double ObjectSizeMax { get; set; } = 0.8;
    /// <summary>Colours the captions use (the first of the palette; see <see cref="ShapesOptions.Colours"/>).</summary>
    [ParamRange(Min = 2, Max = 7)]
    public int Colours { get; set; } = 4;
    public long Seed { get; set; } = 20240325;
}

/// <summary>
/// The offline benchmark's data: procedurally drawn images with captions and exact ground truth, as the same tables the
/// COCO path produces (<c>train/</c> and <c>val/</c>: captions, images, caption meanings, objects).
/// </summary>
[UsesPackages("Parquet.Net")]
public sealed class ShapesDataStage : StageKind<ShapesDataParams>
{
    public override string Name => "shapes-data";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["train/", "val/"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();   // pure C#, no torch

    public override async Task RunAsync(StageContext context, ShapesDataParams p)
    {
        var options = new ShapesOptions { Size = p.Size, RelationFraction = p.RelationFraction, ObjectSizeMin = p.ObjectSizeMin, ObjectSizeMax = p.ObjectSizeMax, Colours = p.Colours };
        try { options.ObjectPixels(p.Size / 2); }
        catch (ArgumentException e) { throw new ArgumentException($"params object_size_min/object_size_max: {e.Message}", e); }
        try { options.Palette(); }
        catch (ArgumentException e) { throw new ArgumentException($"param colours: {e.Message}", e); }
        context.Progress.Report(0, 2, "split");
        await ShapesDataset.WriteAsync(Path.Combine(context.OutputDirectory, "train"), ShapesSplit.Train, p.TrainImages, p.Seed, options, context.CancellationToken);
        context.Progress.Report(1, 2, "split");
        await ShapesDataset.WriteAsync(Path.Combine(context.OutputDirectory, "val"), ShapesSplit.Val, p.ValImages, p.Seed, options, context.CancellationToken);
        context.Progress.Report(2, 2, "split");
        context.Summary["train_images"] = p.TrainImages.ToString();
        context.Summary["val_images"] = p.ValImages.ToString();
    }
}

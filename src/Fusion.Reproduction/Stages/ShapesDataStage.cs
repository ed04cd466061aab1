using Fusion.Datasets.Shapes;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

/// <summary>The shapes-data stage's params; the generator's are bound onto <see cref="ShapesOptions"/>, whose defaults they keep.</summary>
public sealed class ShapesDataParams
{
    /// <summary>The generator knobs set so far (the rest at its defaults); not a param itself.</summary>
    internal ShapesOptions Options { get; private set; } = new();

    [ParamRange(Min = 1)]
    public int TrainImages { get; set; } = 4096;
    [ParamRange(Min = 1)]
    public int ValImages { get; set; } = 512;
    /// <summary>Image side in pixels (even; the generator needs at least 16 to place its shapes).</summary>
    [ParamRange(Min = 16)]
    public int Size { get => Options.Size; set => Options = Options with { Size = value }; }
    [ParamRange(Min = 0, Max = 1)]
    public double RelationFraction { get => Options.RelationFraction; set => Options = Options with { RelationFraction = value }; }
    /// <summary>Object sides as fractions of a cell (half the image side); see <see cref="ShapesOptions.ObjectSizeMin"/>.</summary>
    [ParamRange(Above = 0, Below = 1)]
    public double ObjectSizeMin { get => Options.ObjectSizeMin; set => Options = Options with { ObjectSizeMin = value }; }
    [ParamRange(Above = 0, Below = 1)]
    public double ObjectSizeMax { get => Options.ObjectSizeMax; set => Options = Options with { ObjectSizeMax = value }; }
    /// <summary>Colours the captions use (the first of the palette; see <see cref="ShapesOptions.Colours"/>).</summary>
    [ParamRange(Min = 2, Max = 7)]
    public int Colours { get => Options.Colours; set => Options = Options with { Colours = value }; }
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
        var options = p.Options;
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

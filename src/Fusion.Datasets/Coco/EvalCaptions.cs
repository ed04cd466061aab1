using Fusion.Artifacts.Tables;

namespace Fusion.Datasets.Coco;

/// <summary>Caption i of the evaluation list: the i-th val image (ascending id) and the caption chosen for it.</summary>
public sealed record EvalCaption(int Index, long ImageId, long CaptionId, int CaptionIndex, string Text);

/// <summary>
/// The evaluation caption list (the fork's FID prompts): the first N val images in ascending-id order, one caption
/// each, chosen uniformly with a recorded seed (caption index = SplitMix64(seed, image id) mod n_captions), so the
/// same seed always gives the same list.
/// </summary>
public static class EvalCaptions
{
    public const string SeedKey = "eval.seed";
    public const string RuleKey = "eval.rule";
    public const string Rule = "first N captioned val images by ascending id; caption index = SeededRandom.Index(n_captions, seed, image_id)";

    public static IReadOnlyList<EvalCaption> Choose(CocoCaptions val, int count, long seed)
    {
        var images = val.CaptionedImages.Take(count).ToList();
        if (images.Count < count)
            throw new ArgumentException($"{val.Source}: asked for {count} eval captions but only {images.Count} val images have captions");
        return images.Select((img, i) =>
        {
            var caps = val.CaptionsByImage[img.Id];
            var k = SeededRandom.Index(caps.Count, seed, img.Id);
            return new EvalCaption(i, img.Id, caps[k].Id, k, caps[k].Text);
        }).ToList();
    }

    /// <summary>Writes the list as a captions table (row order = index) with the seed and rule in file metadata.</summary>
    public static Task WriteAsync(string path, IReadOnlyList<EvalCaption> list, long seed, CancellationToken ct = default) =>
        CaptionsTable.WriteAsync(path, list.Select(e => new CaptionRow(e.ImageId, e.CaptionId, e.Text)),
            new Dictionary<string, string> { [SeedKey] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture), [RuleKey] = Rule },
            ct: ct);
}

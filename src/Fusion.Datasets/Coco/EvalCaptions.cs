using Fusion.Artifacts.Tables;

namespace Fusion.Datasets.Coco;

/// <summary>Caption i of the evaluation list: the i-th val image (ascending id) and the caption chosen for it.</summary>
public sealed record EvalCaption(int Index, long ImageId, long CaptionId, int CaptionIndex, string Text);

/// <summary>
/// The evaluation caption list (the fork's FID prompts): the first N val images in ascending-id order, one caption
/// each, chosen uniformly with a recorded seed (caption index = SplitMix64(seed, image id) mod n_captions), so the
/// same seed always gives the same list. One rule for every dataset with a captions table (COCO and shapes).
/// </summary>
public static class EvalCaptions
{
    public const string SeedKey = "eval.seed";
    public const string RuleKey = "eval.rule";
    public const string Rule = "first N captioned val images by ascending id; caption index = SeededRandom.Index(n_captions, seed, image_id)";

    public static IReadOnlyList<EvalCaption> Choose(CocoCaptions val, int count, long seed) => Choose(val.Rows(), count, seed, val.Source);

    /// <summary>The rule over caption rows: images by ascending id, each image's captions in row order.</summary>
    public static IReadOnlyList<EvalCaption> Choose(IEnumerable<CaptionRow> captions, int count, long seed, string source)
    {
        var images = captions.GroupBy(c => c.ImageId).OrderBy(g => g.Key).Take(count).ToList();
        if (images.Count < count)
            throw new ArgumentException($"{source}: asked for {count} eval captions but only {images.Count} val images have captions");
        return images.Select((image, i) =>
        {
            var caps = image.ToList();
            var k = SeededRandom.Index(caps.Count, seed, image.Key);
            return new EvalCaption(i, image.Key, caps[k].CaptionId, k, caps[k].Text);
        }).ToList();
    }

    /// <summary>Writes the list as a captions table (row order = index) with the seed and rule in file metadata.</summary>
    public static Task WriteAsync(string path, IReadOnlyList<EvalCaption> list, long seed, CancellationToken ct = default) =>
        CaptionsTable.WriteAsync(path, list.Select(e => new CaptionRow(e.ImageId, e.CaptionId, e.Text)),
            new Dictionary<string, string> { [SeedKey] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture), [RuleKey] = Rule },
            ct: ct);
}

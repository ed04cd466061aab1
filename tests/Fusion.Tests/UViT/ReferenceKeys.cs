using System.Globalization;
using System.Text.RegularExpressions;
using Fusion.Models.UViT;
using Fusion.Tests.Support;

namespace Fusion.Tests.UViT;

/// <summary>
/// tests/reference/uvit-state-dict-keys.txt ($FUSION_REFERENCE names another folder): the authors' state dicts for one
/// network config ("# … config: img_size 32, in_chans 4, patch 2, …, 77 text tokens."), one section per variant
/// ("## early-concat (reference: …, c=3, v=3): 166 tensors, 44,692,644 values"), then "name TAB [shape]".
/// </summary>
internal static partial class ReferenceKeys
{
    public const string FileName = "uvit-state-dict-keys.txt";

    public static string Folder =>
        Environment.GetEnvironmentVariable("FUSION_REFERENCE") is { Length: > 0 } env
            ? Path.GetFullPath(env)
            : Path.Combine(Fixtures.RepoRoot, "tests", "reference");

    public static string FilePath => Path.Combine(Folder, FileName);

    public sealed record Section(UViTFusion Fusion, int Tensors, long Values, List<(string Name, long[] Shape)> Entries);

    /// <summary>The listing's network config, as <see cref="UViTConfig.FromReferenceArgs"/> arguments, and its sections.</summary>
    public sealed record Listing(Dictionary<string, string> Args, List<Section> Sections);

    [GeneratedRegex(@"^## (early-concat|early-cross|intermediate-concat|intermediate-cross) \((?:[^)]*?c=(\d+), v=(\d+))?[^)]*\): (\d+) tensors, ([\d,]+) values$")]
    private static partial Regex SectionHeader();

    [GeneratedRegex(@"^# .*\bconfig: (.+?)\.?$")]
    private static partial Regex ConfigLine();

    // The comment's short names for the authors' constructor arguments; "N text tokens" is num_clip_token.
    private static readonly Dictionary<string, string> ArgNames = new() { ["patch"] = "patch_size", ["heads"] = "num_heads" };

    public static Listing Read()
    {
        var listing = new Listing([], []);
        foreach (var raw in File.ReadLines(FilePath))
        {
            var line = raw.TrimEnd();
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                var m = SectionHeader().Match(line);
                if (!m.Success) throw new InvalidDataException($"{FilePath}: unrecognised section header '{line}'");
                var family = UViTFusion.Parse(m.Groups[1].Value);
                var fusion = m.Groups[2].Success
                    ? new UViTFusion(family.Stage, family.Method, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture))
                    : family;
                listing.Sections.Add(new Section(fusion, int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[5].Value.Replace(",", ""), CultureInfo.InvariantCulture), []));
            }
            else if (ConfigLine().Match(line) is { Success: true } config)
            {
                foreach (var item in config.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries))
                {
                    var words = item.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (words is [var n, "text", "tokens"]) listing.Args["num_clip_token"] = n;
                    else if (words is [var key, var value]) listing.Args[ArgNames.GetValueOrDefault(key, key)] = value;
                    else throw new InvalidDataException($"{FilePath}: unrecognised config item '{item}' in '{line}'");
                }
            }
            else if (line.Length > 0 && !line.StartsWith('#'))
            {
                var parts = line.Split('\t');
                var shape = parts[1].Trim('[', ']').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                listing.Sections[^1].Entries.Add((parts[0], shape));
            }
        }
        if (listing.Args.Count == 0) throw new InvalidDataException($"{FilePath}: no '# … config: …' line with the network config");
        return listing;
    }
}

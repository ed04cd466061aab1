using System.Globalization;
using System.Text.RegularExpressions;
using Fusion.Models.UViT;
using Fusion.Tests.Support;

namespace Fusion.Tests.UViT;

/// <summary>
/// ../shared/reference/uvit-state-dict-keys.txt ($FUSION_REFERENCE when set): the authors' S/2 state dicts, one section
/// per variant ("## early-concat (reference: …, c=3, v=3): 166 tensors, 44,692,644 values"), then "name TAB [shape]".
/// </summary>
internal static partial class ReferenceKeys
{
    public const string FileName = "uvit-state-dict-keys.txt";

    public static string Folder =>
        Environment.GetEnvironmentVariable("FUSION_REFERENCE") is { Length: > 0 } env
            ? Path.GetFullPath(env)
            : Path.GetFullPath(Path.Combine(Fixtures.RepoRoot, "..", "shared", "reference"));

    public static string FilePath => Path.Combine(Folder, FileName);

    public sealed record Section(UViTFusion Fusion, int Tensors, long Values, List<(string Name, long[] Shape)> Entries);

    [GeneratedRegex(@"^## (early-concat|early-cross|intermediate-concat|intermediate-cross) \((?:[^)]*?c=(\d+), v=(\d+))?[^)]*\): (\d+) tensors, ([\d,]+) values$")]
    private static partial Regex SectionHeader();

    public static List<Section> Read()
    {
        var sections = new List<Section>();
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
                sections.Add(new Section(fusion, int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture),
                    long.Parse(m.Groups[5].Value.Replace(",", ""), CultureInfo.InvariantCulture), []));
            }
            else if (line.Length > 0 && !line.StartsWith('#'))
            {
                var parts = line.Split('\t');
                var shape = parts[1].Trim('[', ']').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                sections[^1].Entries.Add((parts[0], shape));
            }
        }
        return sections;
    }
}

/// <summary>A fact that needs the reference key listing; skipped (naming the path) when it is absent.</summary>
public sealed class ReferenceFactAttribute : FactAttribute
{
    public ReferenceFactAttribute()
    {
        if (!File.Exists(ReferenceKeys.FilePath)) Skip = $"reference listing not found: {ReferenceKeys.FilePath} (set FUSION_REFERENCE)";
    }
}

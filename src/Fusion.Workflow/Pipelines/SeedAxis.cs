using System.Globalization;

namespace Fusion.Workflow.Pipelines;

/// <summary>
/// The seed axis of a stage that declares <c>seeds: [1, 2, 3]</c>: each variant becomes one node per seed, named
/// <c>variant/seed=N</c> (<c>train[intermediate-cross/seed=2]</c>; <c>seed=N</c> for a stage without variants), with
/// the kind's <c>seed</c> param set to N. One declared seed adds no suffix, so a single-seed pipeline keeps its node names.
/// </summary>
public static class SeedAxis
{
    public const string Param = "seed";
    public const string Key = "seeds";
    private const string Marker = "seed=";

    public static string Name(string? variant, long seed) =>
        (variant is null ? "" : variant + "/") + Marker + seed.ToString(CultureInfo.InvariantCulture);

    /// <summary>"intermediate-cross/seed=2" → (intermediate-cross, 2); "seed=2" → (null, 2); a name without a seed → (name, null).</summary>
    public static (string? Variant, long? Seed) Split(string name)
    {
        var at = name.StartsWith(Marker, StringComparison.Ordinal) ? 0 : name.LastIndexOf("/" + Marker, StringComparison.Ordinal) + 1;
        if (at < 0 || (at == 0 && !name.StartsWith(Marker, StringComparison.Ordinal))) return (name, null);
        var number = name[(at + Marker.Length)..];
        if (!long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seed)) return (name, null);
        return (at == 0 ? null : name[..(at - 1)], seed);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The seed-to-seed spread of one metric's paired difference (intermediate − early), measured over
/// <see cref="Differences"/>.Count seeds: their mean, sample standard deviation and degrees of freedom (seeds − 1).
/// </summary>
public sealed record MetricSpread(double Mean, double Sd, int Df, IReadOnlyList<double> Differences);

/// <summary>
/// One calibrated comparison: its variants, the recipe fingerprint of each variant's evaluation (seed and machine left
/// out, see <c>Fingerprinter.Recipe</c>), the seeds trained and each metric's spread.
/// </summary>
public sealed record SpreadComparison(string Intermediate, string Early, string IntermediateRecipe, string EarlyRecipe,
    IReadOnlyList<long> Seeds, IReadOnlyDictionary<string, MetricSpread> Metrics);

/// <summary>
/// A stored seed spread (<c>fusion calibrate</c> writes it beside its pipeline, e.g. <c>pipelines/shapes.seed-spread.json</c>):
/// how much a recipe's paired differences move from one training seed to the next. A one-seed report uses it, when
/// its runs' recipes match, to judge a quality claim with the spread a single seed cannot show. Provenance says
/// which pipeline, command, date and machine measured it.
/// </summary>
public sealed record SeedSpread(string Pipeline, string Command, string Date, string Machine, IReadOnlyList<SpreadComparison> Comparisons)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Parses a stored spread; a malformed one is an error naming what is wrong (never silently unused).</summary>
    public static SeedSpread Parse(string json, string origin)
    {
        SeedSpread? s;
        try { s = JsonSerializer.Deserialize<SeedSpread>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"seed spread {origin} is not valid: {e.Message}"); }
        if (s is null || s.Comparisons.Count == 0) throw new InvalidDataException($"seed spread {origin} holds no comparison");
        foreach (var c in s.Comparisons)
            foreach (var (metric, m) in c.Metrics)
                if (!(m.Sd >= 0 && double.IsFinite(m.Sd)) || m.Df < 1 || m.Df != m.Differences.Count - 1)
                    throw new InvalidDataException($"seed spread {origin}: {c.Intermediate} vs {c.Early}, {metric}: needs a finite sd ≥ 0 and df = seeds − 1 ≥ 1 (sd {m.Sd}, df {m.Df}, {m.Differences.Count} differences)");
        return s;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>What a one-seed comparison finds: the spread of its exact recipe, or why there is none.</summary>
    public (MetricSpread? Spread, SpreadComparison? Comparison, string? Why) Find(string intermediate, string early, string? intermediateRecipe, string? earlyRecipe, string metric)
    {
        var named = Comparisons.Where(c => c.Intermediate == intermediate && c.Early == early).ToList();
        var match = Comparisons.FirstOrDefault(c => c.IntermediateRecipe == intermediateRecipe && c.EarlyRecipe == earlyRecipe && intermediateRecipe is not null && earlyRecipe is not null);
        if (match is null)
            return (null, null, named.Count > 0 ? "the stored seed spread is for another recipe" : "seed-to-seed spread unknown");
        return match.Metrics.TryGetValue(metric, out var m) ? (m, match, null) : (null, match, $"the stored seed spread has no {metric}");
    }
}

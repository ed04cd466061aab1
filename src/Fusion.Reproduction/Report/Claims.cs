namespace Fusion.Reproduction.Report;

/// <summary>The measured figures of one fusion variant, as the aggregate stage collects them. Null = not measured.</summary>
public sealed record VariantResult(
    string Variant,
    long? Parameters = null,
    double? ForwardGMacs = null,
    double? TrainStepsPerSecond = null,
    double? SamplesPerSecond = null,
    double? Fid = null,
    /// <summary>torchmetrics convention: 100 · mean max(cos, 0).</summary>
    double? ClipScore = null,
    /// <summary>Hessel et al. CLIP-S: 2.5 · mean max(cos, 0), captions prefixed "A photo depicts ".</summary>
    double? ClipS = null,
    IReadOnlyDictionary<string, double>? Alignment = null);

public enum Verdict { Supported, NotSupported, NotMeasured }

/// <summary>One row of the claims table.</summary>
public sealed record ClaimRow(string Claim, string Measurement, Verdict Verdict, string Rule);

/// <summary>
/// The paper's four headline claims, each checked per conditioning method: intermediate-concat against early-concat
/// (the "strong U-ViT baseline") and intermediate-cross against early-cross. A claim is supported only when it
/// holds for every pair; a failing pair makes it "not supported", otherwise a missing figure makes it "not measured".
/// </summary>
public static class Claims
{
    /// <summary>"20 % reduced FLOPs": supported when the reduction is at least three quarters of the claim (≥ 15 %).</summary>
    public const double FlopReductionClaim = 0.20;

    /// <summary>"50 % increased training speed": supported when the speed-up is at least three quarters of it (≥ 37.5 %).</summary>
    public const double SpeedupClaim = 0.50;

    public static readonly (string Intermediate, string Early)[] Pairs =
        [("intermediate-concat", "early-concat"), ("intermediate-cross", "early-cross")];

    public static IReadOnlyList<ClaimRow> Evaluate(IReadOnlyList<VariantResult> results)
    {
        var byName = results.ToDictionary(r => r.Variant);
        return
        [
            Compare(byName, "Higher CLIP Score (intermediate vs early fusion)", r => r.ClipScore, "CLIP Score (torchmetrics, 100·cos)",
                (i, e) => i > e, (i, e) => $"{i:F2} vs {e:F2}", "intermediate > early in every measured pair"),
            Compare(byName, "Lower FID (intermediate vs early fusion)", r => r.Fid, "FID",
                (i, e) => i < e, (i, e) => $"{i:F2} vs {e:F2}", "intermediate < early in every measured pair"),
            Compare(byName, "≈20 % fewer FLOPs", r => r.ForwardGMacs, "forward GMACs",
                (i, e) => 1 - i / e >= 0.75 * FlopReductionClaim, (i, e) => $"{i:F3} vs {e:F3} GMACs ({100 * (1 - i / e):F1} % fewer)",
                $"reduction ≥ {75 * FlopReductionClaim:F0} % in every measured pair"),
            Compare(byName, "≈50 % faster training", r => r.TrainStepsPerSecond, "train steps/s",
                (i, e) => i / e - 1 >= 0.75 * SpeedupClaim, (i, e) => $"{i:F3} vs {e:F3} steps/s ({100 * (i / e - 1):+0.0;-0.0} %)",
                $"speed-up ≥ {75 * SpeedupClaim:F1} % in every measured pair"),
        ];
    }

    private static ClaimRow Compare(Dictionary<string, VariantResult> results, string claim, Func<VariantResult, double?> metric,
        string metricName, Func<double, double, bool> holds, Func<double, double, string> describe, string rule)
    {
        var parts = new List<string>();
        bool anyMissing = false, anyFailed = false;
        foreach (var (inter, early) in Pairs)
        {
            double? i = results.TryGetValue(inter, out var ri) ? metric(ri) : null;
            double? e = results.TryGetValue(early, out var re) ? metric(re) : null;
            if (i is not { } iv || e is not { } ev || !double.IsFinite(iv) || !double.IsFinite(ev))
            {
                parts.Add($"{inter} vs {early}: {metricName} not measured");
                anyMissing = true;
                continue;
            }
            var ok = holds(iv, ev);
            parts.Add($"{inter} vs {early}: {describe(iv, ev)} {(ok ? "✓" : "✗")}");
            anyFailed |= !ok;
        }
        var verdict = anyFailed ? Verdict.NotSupported : anyMissing ? Verdict.NotMeasured : Verdict.Supported;
        return new ClaimRow(claim, string.Join("; ", parts), verdict, rule);
    }

    public static string Label(Verdict v) => v switch
    {
        Verdict.Supported => "supported",
        Verdict.NotSupported => "not supported",
        _ => "not measured",
    };
}

using System.Globalization;
using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The four-way rule for one claim: the claim holds when the quantity is above (<paramref name="Higher"/>) or below
/// <paramref name="Threshold"/> (at it counts when <paramref name="Inclusive"/>). With a practical-equivalence margin
/// δ (<paramref name="Margin"/>), an interval wholly inside (threshold − δ, threshold + δ) is <i>equivalent</i>: two
/// one-sided tests, each at half the interval's error rate, reject a difference of δ or more either way — checked
/// first, since a difference too small to matter is the answer even when its sign is known. Otherwise supported when
/// the whole interval lies on the claim's side, not supported when it lies wholly on the other side, inconclusive when
/// it straddles the threshold. An exact figure (no interval) is compared directly; an inexact one without an interval
/// is inconclusive.
/// </summary>
public sealed record ClaimTest(string Quantity, double Threshold, bool Higher, bool Inclusive, string ThresholdText, double? Margin = null)
{
    public Verdict Judge(Interval? x, bool exact = false)
    {
        if (x is null || !double.IsFinite(x.Estimate)) return Verdict.NotMeasured;
        if (!x.HasBounds) return exact ? (Holds(x.Estimate) ? Verdict.Supported : Verdict.NotSupported) : Verdict.Inconclusive;
        if (Margin is { } d && x.Lo > Threshold - d && x.Hi < Threshold + d) return Verdict.Equivalent;
        var (near, far) = Higher ? (x.Lo, x.Hi) : (x.Hi, x.Lo);
        if (Holds(near)) return Verdict.Supported;
        if (!Holds(far)) return Verdict.NotSupported;
        return Verdict.Inconclusive;
    }

    private bool Holds(double v) => Higher ? (Inclusive ? v >= Threshold : v > Threshold) : (Inclusive ? v <= Threshold : v < Threshold);

    public string Rule(bool exact)
    {
        var side = Higher ? (Inclusive ? "at or above" : "above") : (Inclusive ? "at or below" : "below");
        var other = Higher ? (Inclusive ? "below" : "at or below") : (Inclusive ? "above" : "at or above");
        if (exact) return $"exact: supported when {Quantity} is {side} {ThresholdText}, otherwise not supported";
        var equivalent = Margin is { } d
            ? $"equivalent when it lies inside ±{d.ToString("G4", CultureInfo.InvariantCulture)} of {ThresholdText} (two one-sided tests; checked first); "
            : "";
        return $"{equivalent}supported when the interval of {Quantity} lies {side} {ThresholdText}; not supported when it lies {other} it; inconclusive otherwise";
    }
}

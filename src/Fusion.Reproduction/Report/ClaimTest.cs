using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The three-way rule for one claim: the claim holds when the quantity is above (<paramref name="Higher"/>) or below
/// <paramref name="Threshold"/> (at it counts when <paramref name="Inclusive"/>). Supported when the whole 95 %
/// interval lies on the claim's side, not supported when it lies wholly on the other side, inconclusive when it
/// straddles the threshold. An exact figure (no interval) is compared directly; an inexact one without an interval is
/// inconclusive.
/// </summary>
public sealed record ClaimTest(string Quantity, double Threshold, bool Higher, bool Inclusive, string ThresholdText)
{
    public Verdict Judge(Interval? x, bool exact = false)
    {
        if (x is null || !double.IsFinite(x.Estimate)) return Verdict.NotMeasured;
        if (!x.HasBounds) return exact ? (Holds(x.Estimate) ? Verdict.Supported : Verdict.NotSupported) : Verdict.Inconclusive;
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
        return exact
            ? $"exact: supported when {Quantity} is {side} {ThresholdText}, otherwise not supported"
            : $"supported when the 95 % interval of {Quantity} lies {side} {ThresholdText}; not supported when it lies {other} it; inconclusive when it straddles it";
    }
}

using Fusion.Reproduction.Statistics;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The report's estimates with their intervals. Over seeds when there are two or more (t-interval); with one seed,
/// a bootstrap over evaluation samples (labelled so). Differences pair runs of the same seed; a single pair of runs
/// uses the paired bootstrap (both evaluations resampled with the same index sets).
/// </summary>
public static class Estimates
{
    /// <summary>A variant's metric: mean over seeds, or its one run with a bootstrap over samples; null when not measured.</summary>
    public static Interval? PerVariant(StudyResults study, string variant, string metric)
    {
        var runs = study.RunsOf(variant, metric);
        if (runs.Count == 0) return null;
        if (runs.Count > 1) return Intervals.TInterval(runs.Select(r => r.Metrics[metric]).ToList(), "seed");
        return OverSamples(runs[0], metric);
    }

    /// <summary>One run's metric with its bootstrap interval over evaluation samples (no replicates: no interval).</summary>
    public static Interval OverSamples(RunResult run, string metric)
    {
        var value = run.Metrics[metric];
        return run.Bootstrap is { } b && b.Replicates.TryGetValue(metric, out var reps)
            ? Intervals.BootstrapInterval(value, reps, b.Samples, $"bootstrap over {b.Samples} evaluation samples ({b.Resamples} resamples), 1 seed")
            : Interval.Point(value, 1, "1 seed, no interval");
    }

    /// <summary>
    /// intermediate − early for <paramref name="metric"/>: paired t-interval over common seeds (≥ 2), else Welch over
    /// unpaired seeds (≥ 2 each), else the paired bootstrap over samples of one run each; null when not measured.
    /// </summary>
    public static Interval? Difference(StudyResults study, string intermediate, string early, string metric)
    {
        var a = study.RunsOf(intermediate, metric);
        var b = study.RunsOf(early, metric);
        if (a.Count == 0 || b.Count == 0) return null;
        var common = a.Select(r => r.Seed).Intersect(b.Select(r => r.Seed)).ToList();
        double Of(IReadOnlyList<RunResult> runs, long? seed) => runs.Single(r => r.Seed == seed).Metrics[metric];
        if (common.Count >= 2)
        {
            var t = Intervals.TInterval(common.Select(s => Of(a, s) - Of(b, s)).ToList(), "seed");
            return t with { Method = $"paired by seed, {t.Method}" };
        }
        if (a.Count >= 2 && b.Count >= 2)
            return Intervals.WelchInterval(a.Select(r => r.Metrics[metric]).ToList(), b.Select(r => r.Metrics[metric]).ToList(), "seed");
        var (ra, rb) = common.Count == 1 ? (a.Single(r => r.Seed == common[0]), b.Single(r => r.Seed == common[0])) : (a[0], b[0]);
        var diff = ra.Metrics[metric] - rb.Metrics[metric];
        var seeds = common.Count == 1 ? "1 seed" : $"unpaired seeds {ra.Seed} and {rb.Seed}";
        if (ra.Bootstrap is { } ba && rb.Bootstrap is { } bb && ba.PairsWith(bb)
            && ba.Replicates.TryGetValue(metric, out var xa) && bb.Replicates.TryGetValue(metric, out var xb))
            return Intervals.BootstrapInterval(diff, xa.Zip(xb, (x, y) => x - y).ToList(), ba.Samples,
                $"paired bootstrap over {ba.Samples} evaluation samples ({ba.Resamples} resamples), {seeds}");
        return Interval.Point(diff, 1, $"{seeds}, no interval");
    }

    /// <summary>Median per-round ratio intermediate ÷ early of a timing metric, with its order-statistic interval.</summary>
    public static Interval? RateRatio(TimingRounds? timing, string intermediate, string early, bool train)
    {
        var rates = train ? timing?.Train : timing?.Sample;
        if (rates is null || !rates.TryGetValue(intermediate, out var a) || !rates.TryGetValue(early, out var b) || a.Length != b.Length || a.Length == 0) return null;
        var ratio = Intervals.MedianInterval(a.Zip(b, (x, y) => x / y).ToList(), "round");
        return ratio with { Method = $"per-round ratio, {ratio.Method}" };
    }

    /// <summary>A variant's median rate over the rounds, with its order-statistic interval.</summary>
    public static Interval? Rate(TimingRounds? timing, string variant, bool train) =>
        (train ? timing?.Train : timing?.Sample)?.TryGetValue(variant, out var r) == true && r.Length > 0 ? Intervals.MedianInterval(r, "round") : null;
}

using System.Globalization;
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
    /// intermediate − early for <paramref name="metric"/>, judged over training seeds: a paired t-interval over common
    /// seeds (≥ 2), else Welch over unpaired seeds (≥ 2 each). With one seed only a stored seed spread of the same recipe
    /// gives an interval (<see cref="OneSeed"/>); without it the estimate carries the caveat that decides nothing.
    /// Under a sequential design the level is that of the look at this many seeds. Null when not measured.
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
            var t = Intervals.TInterval(common.Select(s => Of(a, s) - Of(b, s)).ToList(), "seed", LevelAt(study, common.Count));
            return t with { Method = $"paired by seed, {t.Method}" };
        }
        if (a.Count >= 2 && b.Count >= 2)
            return Intervals.WelchInterval(a.Select(r => r.Metrics[metric]).ToList(), b.Select(r => r.Metrics[metric]).ToList(), "seed", LevelAt(study, Math.Min(a.Count, b.Count)));
        var (ra, rb) = common.Count == 1 ? (a.Single(r => r.Seed == common[0]), b.Single(r => r.Seed == common[0])) : (a[0], b[0]);
        return OneSeed(study, ra, rb, metric, common.Count == 1 ? "1 seed" : $"unpaired seeds {ra.Seed} and {rb.Seed}");
    }

    /// <summary>The look's level: 95 % in a fixed design.</summary>
    private static double LevelAt(StudyResults study, int seeds) => study.Design?.LevelAt(Math.Min(seeds, study.Design.MaxSeeds)) ?? Intervals.Level;

    /// <summary>
    /// One run each. The paired bootstrap over evaluation samples measures sampling noise only, not how the trained
    /// model moves with its seed, so on its own it decides nothing. With a stored spread of this exact recipe, the
    /// interval is diff ± t(df of the spread) · √(sd² + bootstrap variance): the seed spread and this run's sampling
    /// noise add (conservatively: the spread, measured on evaluated runs, already holds some sampling noise).
    /// </summary>
    private static Interval OneSeed(StudyResults study, RunResult ra, RunResult rb, string metric, string seeds)
    {
        var diff = ra.Metrics[metric] - rb.Metrics[metric];
        var (boot, bootVariance) = PairedBootstrap(ra, rb, metric) is { } pb ? pb : (null, 0);
        var sampling = boot is { HasBounds: true } ? string.Create(CultureInfo.InvariantCulture, $"sampling noise alone, {boot.Method}: [{boot.Lo:G4}, {boot.Hi:G4}]") : "no bootstrap of its sampling noise";
        var (spread, comparison, why) = study.Spread?.Find(ra.Variant, rb.Variant, ra.Recipe, rb.Recipe, metric) ?? (null, null, "seed-to-seed spread unknown");
        if (spread is null)
            return new Interval(diff, double.NaN, double.NaN, 1, $"{seeds}; {sampling}", $"one seed: {why}");
        var level = LevelAt(study, 1);
        var half = Intervals.TQuantile(0.5 + level / 2, spread.Df) * Math.Sqrt(spread.Sd * spread.Sd + bootVariance);
        return new Interval(diff, diff - half, diff + half, 1, string.Create(CultureInfo.InvariantCulture,
            $"{seeds}, {Intervals.LevelText(level)}t-interval with the stored seed spread (sd {spread.Sd:G3} over {spread.Df + 1} seeds {string.Join(",", comparison!.Seeds)}, " +
            $"{study.Spread!.Date}) and {(boot is { HasBounds: true } ? "this run's " + boot.Method : "no bootstrap")}, df {spread.Df}"));
    }

    /// <summary>
    /// The paired bootstrap of one run each (both evaluations resampled with the same index sets): its percentile
    /// interval of the difference and the replicates' variance; null when the two evaluations do not pair.
    /// </summary>
    public static (Interval Interval, double Variance)? PairedBootstrap(RunResult ra, RunResult rb, string metric)
    {
        if (ra.Bootstrap is not { } ba || rb.Bootstrap is not { } bb || !ba.PairsWith(bb)
            || !ba.Replicates.TryGetValue(metric, out var xa) || !bb.Replicates.TryGetValue(metric, out var xb)) return null;
        var reps = xa.Zip(xb, (x, y) => x - y).Where(double.IsFinite).ToList();
        var diff = ra.Metrics[metric] - rb.Metrics[metric];
        var variance = 0.0;
        if (reps.Count >= 2) { var m = reps.Average(); variance = reps.Sum(r => (r - m) * (r - m)) / (reps.Count - 1); }
        return (Intervals.BootstrapInterval(diff, reps, ba.Samples, $"paired bootstrap over {ba.Samples} evaluation samples ({ba.Resamples} resamples)"), variance);
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

using Fusion.Worker.Runs;

namespace Fusion.Worker.Regression;

/// <summary>
/// Compares a run's metrics to a baseline's means, direction-aware, with each metric's tolerance
/// (<see cref="MetricRule.For"/>: absolute, relative and seed-spread terms). Checked metrics are those of the baseline
/// plus those named exactly by a rule, less the ignored ones. Never a silent pass: a metric that is missing,
/// NaN/infinite, in another unit, or without a rule, or a run of another pipeline than the baseline's, makes the
/// verdict Incomparable.
/// </summary>
public static class RegressionCheck
{
    /// <param name="runPipeline">The pipeline the run ran (<see cref="IRunMetricsSource.GetPipelineAsync"/>); compared with the
    /// baseline's when both are known.</param>
    public static RegressionReport Compare(
        string runId, IReadOnlyDictionary<string, MetricValue>? current, string baselineName, Baseline? baseline,
        RegressionOptions options, DateTimeOffset? now = null, string? runPipeline = null)
    {
        var at = now ?? DateTimeOffset.UtcNow;
        if (baseline is null)
            return new(runId, baselineName, null, at, Verdict.Incomparable, [],
                $"no baseline '{baselineName}' is blessed (run `fusion baseline bless RUN [RUN ...] --name {baselineName}`)");
        if (current is null)
            return new(runId, baselineName, baseline.RunId, at, Verdict.Incomparable, [], $"run '{runId}' has no metrics table") { BaselineRuns = baseline.Runs };
        if (baseline.Pipeline is { } blessed && runPipeline is not null && runPipeline != blessed)
            return new(runId, baselineName, baseline.RunId, at, Verdict.Incomparable, [],
                $"run '{runId}' ran pipeline '{runPipeline}' but baseline '{baselineName}' was blessed from '{blessed}'") { BaselineRuns = baseline.Runs };

        // A run's value is the mean of its seeds (SeedPooling); the tolerance knows how many it averaged.
        SortedDictionary<string, SeedPooling.Pooled> pooled;
        try { pooled = SeedPooling.Pool(current.Where(kv => !options.Ignored(kv.Key)).ToDictionary()); }
        catch (InvalidOperationException e)
        {
            return new(runId, baselineName, baseline.RunId, at, Verdict.Incomparable, [], e.Message) { BaselineRuns = baseline.Runs };
        }
        current = pooled.Where(kv => !options.Ignored(kv.Key)).ToDictionary(kv => kv.Key, kv => new MetricValue(kv.Value.Mean, kv.Value.Unit));
        int Replicates(string n) => pooled.TryGetValue(n, out var p) ? p.Values.Count : 1;
        var names = baseline.Metrics.Keys.Union(options.RequiredMetrics, StringComparer.Ordinal)
            .Where(n => !options.Ignored(n)).Order(StringComparer.Ordinal).ToList();
        var checks = names.Select(n => Check(n, baseline.Metrics.GetValueOrDefault(n), baseline.SpreadOf(n), current.GetValueOrDefault(n), options.RuleFor(n), Replicates(n))).ToList();
        // Metrics the baseline does not know are reported, not judged: bless a run that has them to start checking them.
        checks.AddRange(current.Keys.Except(names, StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(n =>
            new MetricCheck(n, current[n].Unit, null, current[n].Value, null, null, options.RuleFor(n)?.Better, MetricOutcome.New, "not in baseline")));

        var verdict = checks.Any(c => c.Outcome == MetricOutcome.Regressed) ? Verdict.Regressed
                    : checks.Any(c => c.Fails) ? Verdict.Incomparable
                    : Verdict.Passed;
        return new(runId, baselineName, baseline.RunId, at, verdict, checks) { BaselineRuns = baseline.Runs };
    }

    private static MetricCheck Check(string name, MetricValue? baseline, MetricSpread spread, MetricValue? current, MetricRule? rule, int replicates)
    {
        var unit = baseline?.Unit ?? current?.Unit ?? "";
        var tolerance = baseline is not null ? rule?.For(baseline.Value, spread, replicates) : null;
        MetricCheck Row(MetricOutcome o, string note, double? delta = null, double? allowed = null) =>
            new(name, unit, baseline?.Value, current?.Value, delta, allowed, rule?.Better, o,
                tolerance is { NoSpread: true } ? string.Join("; ", new[] { note, Tolerance.NoSpreadNote }.Where(s => s.Length > 0)) : note)
            {
                BaselineSd = baseline is null ? null : spread.Sd,
                BaselineN = baseline is null ? null : spread.N,
                Basis = allowed is null ? null : tolerance?.Basis,
            };

        if (current is null) return Row(MetricOutcome.Missing, "missing from the run");
        if (baseline is null) return Row(MetricOutcome.Incomparable, "a rule requires it but the baseline lacks it: bless a run that has it");
        if (rule is null || tolerance is null) return Row(MetricOutcome.Incomparable, "no tolerance rule for this metric (Worker:Regression:Metrics)");
        if (!double.IsFinite(current.Value) || !double.IsFinite(baseline.Value)) return Row(MetricOutcome.Incomparable, "not a finite number");
        if (!string.Equals(current.Unit, baseline.Unit, StringComparison.Ordinal))
            return Row(MetricOutcome.Incomparable, $"unit '{current.Unit}' differs from the baseline's '{baseline.Unit}'");

        var delta = current.Value - baseline.Value;
        var allowed = tolerance.Allowed;
        var worse = rule.Better switch { Better.Lower => delta, Better.Higher => -delta, _ => Math.Abs(delta) };
        if (worse > allowed) return Row(MetricOutcome.Regressed, $"worse by {Math.Abs(delta):G4} (allowed {allowed:G4}, {tolerance.Basis})", delta, allowed);
        if (rule.Better != Better.Either && -worse > allowed) return Row(MetricOutcome.Improved, "better beyond tolerance: consider blessing", delta, allowed);
        return Row(MetricOutcome.Within, "", delta, allowed);
    }
}

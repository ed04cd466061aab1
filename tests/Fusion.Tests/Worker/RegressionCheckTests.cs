using System.Text.Json;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;

namespace Fusion.Tests.Worker;

public sealed class RegressionCheckTests
{
    private static RegressionOptions Rules() => new()
    {
        Metrics =
        {
            ["fid"] = new MetricRule { Better = Better.Lower, Absolute = 0.5, Relative = 0.02 },
            ["clip_score"] = new MetricRule { Better = Better.Higher, Absolute = 0.002 },
            ["throughput*"] = new MetricRule { Better = Better.Higher, Relative = 0.10 },
        },
    };

    private static Dictionary<string, MetricValue> Metrics(double fid = 20.0, double clip = 0.30, double throughput = 100) => new()
    {
        ["fid"] = new(fid, "FID"), ["clip_score"] = new(clip, "CLIP score"), ["throughput_train"] = new(throughput, "img/s"),
    };

    private static Baseline Blessed(Dictionary<string, MetricValue>? m = null) =>
        new("nightly", "nightly-2026-11-25", DateTimeOffset.UnixEpoch, "test", m ?? Metrics());

    private static RegressionReport Check(Dictionary<string, MetricValue>? current, Baseline? baseline = null, RegressionOptions? rules = null) =>
        RegressionCheck.Compare("nightly-2026-11-26", current, "nightly", baseline ?? Blessed(), rules ?? Rules());

    [Fact]
    public void An_unchanged_rerun_passes()
    {
        var report = Check(Metrics());
        Assert.Equal(Verdict.Passed, report.Verdict);
        Assert.Equal(["clip_score", "fid", "throughput_train"], report.Checks.Select(c => c.Metric));
        Assert.All(report.Checks, c => Assert.Equal(MetricOutcome.Within, c.Outcome));
    }

    [Theory]
    [InlineData(20.49, 0.30, 100, MetricOutcome.Within)]     // fid worse, inside max(0.5, 2 % of 20)
    [InlineData(15.0, 0.30, 100, MetricOutcome.Improved)]    // fid much better: passes, suggests blessing
    [InlineData(20.0, 0.299, 100, MetricOutcome.Within)]     // clip lower by 0.001 < 0.002
    [InlineData(20.0, 0.30, 91, MetricOutcome.Within)]       // throughput −9 % < 10 %
    public void Changes_within_tolerance_or_for_the_better_pass(double fid, double clip, double throughput, MetricOutcome expected)
    {
        var report = Check(Metrics(fid, clip, throughput));
        Assert.Equal(Verdict.Passed, report.Verdict);
        Assert.Contains(report.Checks, c => c.Outcome == expected);
    }

    [Theory]
    [InlineData(20.6, 0.30, 100, "fid")]            // lower is better: +0.6 > 0.5
    [InlineData(20.0, 0.297, 100, "clip_score")]    // higher is better: −0.003 > 0.002
    [InlineData(20.0, 0.30, 89, "throughput_train")] // higher is better, via the "throughput*" pattern: −11 % > 10 %
    public void An_injected_regression_is_flagged_in_the_bad_direction_only(double fid, double clip, double throughput, string culprit)
    {
        var report = Check(Metrics(fid, clip, throughput));
        Assert.Equal(Verdict.Regressed, report.Verdict);
        Assert.Equal(culprit, Assert.Single(report.Checks, c => c.Fails).Metric);
        Assert.Contains(culprit, report.Summary);
    }

    [Fact]
    public void Relative_tolerance_scales_with_the_baseline()
    {
        var baseline = Blessed(Metrics(fid: 100));
        Assert.Equal(Verdict.Passed, Check(Metrics(fid: 101.9), baseline).Verdict);
        Assert.Equal(Verdict.Regressed, Check(Metrics(fid: 102.1), baseline).Verdict);
    }

    [Fact]
    public void A_missing_metric_fails_the_check()
    {
        var current = Metrics();
        current.Remove("clip_score");
        var report = Check(current);
        Assert.Equal(Verdict.Incomparable, report.Verdict);
        Assert.False(report.Passed);
        Assert.Equal(MetricOutcome.Missing, report.Checks.Single(c => c.Metric == "clip_score").Outcome);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_metric_that_is_not_a_number_fails_the_check(double fid)
    {
        var report = Check(Metrics(fid: fid));
        Assert.Equal(Verdict.Incomparable, report.Verdict);
        Assert.Equal(MetricOutcome.Incomparable, report.Checks.Single(c => c.Metric == "fid").Outcome);
    }

    [Fact]
    public void A_changed_unit_fails_the_check()
    {
        var current = Metrics();
        current["throughput_train"] = new(100, "img/min");
        Assert.Equal(Verdict.Incomparable, Check(current).Verdict);
    }

    [Fact]
    public void A_metric_without_a_rule_fails_unless_a_default_rule_covers_it()
    {
        var metrics = Metrics();
        metrics["loss"] = new(0.1, "");
        Assert.Equal(Verdict.Incomparable, Check(metrics, Blessed(metrics)).Verdict);
        var rules = Rules();
        rules.Default = new MetricRule { Better = Better.Either, Relative = 0.05 };
        Assert.Equal(Verdict.Passed, Check(metrics, Blessed(metrics), rules).Verdict);
        metrics["loss"] = new(0.2, "");
        Assert.Equal(Verdict.Regressed, Check(metrics, Blessed(Metrics().Append(new("loss", new(0.1, ""))).ToDictionary()), rules).Verdict);
    }

    [Fact]
    public void A_metric_named_by_a_rule_but_absent_from_the_baseline_fails()
    {
        var baseline = Metrics();
        baseline.Remove("fid");
        var report = Check(Metrics(), Blessed(baseline));
        Assert.Equal(Verdict.Incomparable, report.Verdict);
    }

    [Fact]
    public void Without_a_baseline_or_metrics_nothing_passes()
    {
        Assert.Equal(Verdict.Incomparable, RegressionCheck.Compare("r", Metrics(), "nightly", null, Rules()).Verdict);
        Assert.Contains("fusion baseline bless", RegressionCheck.Compare("r", Metrics(), "nightly", null, Rules()).Summary);
        Assert.Equal(Verdict.Incomparable, Check(null).Verdict);
    }

    [Fact]
    public void Ignored_metrics_are_neither_checked_nor_required()
    {
        var rules = Rules();
        rules.Ignore.Add("throughput*");
        var current = Metrics(throughput: 1);
        Assert.Equal(Verdict.Passed, Check(current, rules: rules).Verdict);
        current.Remove("throughput_train");
        var report = Check(current, rules: rules);
        Assert.Equal(Verdict.Passed, report.Verdict);
        Assert.DoesNotContain(report.Checks, c => c.Metric == "throughput_train");
    }

    [Fact]
    public void New_metrics_are_reported_but_not_judged()
    {
        var current = Metrics();
        current["fid_30k"] = new(9.1, "FID");
        var report = Check(current);
        Assert.Equal(Verdict.Passed, report.Verdict);
        Assert.Equal(MetricOutcome.New, report.Checks.Single(c => c.Metric == "fid_30k").Outcome);
    }

    [Fact]
    public void The_report_renders_as_markdown_and_round_trips_as_json()
    {
        var report = Check(Metrics(fid: 21));
        var md = report.ToMarkdown();
        Assert.Contains("# Regression check: nightly-2026-11-26", md);
        Assert.Contains("| fid | FID | 20 | 21 | +1 | ±0.5 | lower | **Regressed** |", md);
        var json = WorkerJson.Serialize(report);
        Assert.Equal("regressed", JsonDocument.Parse(json).RootElement.GetProperty("verdict").GetString());
        var back = WorkerJson.Deserialize<RegressionReport>(json, "report");
        Assert.Equal(report.Checks, back.Checks);
    }

    private sealed class FixedMetrics(Dictionary<string, Dictionary<string, MetricValue>> runs) : IRunMetricsSource
    {
        public Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, MetricValue>?>(runs.GetValueOrDefault(runId));
    }

    [Fact]
    public async Task Blessing_stores_the_runs_metrics_and_keeps_the_previous_baseline()
    {
        using var dir = new TempDir();
        var docs = new FileDocumentStore(dir.Path);
        var source = new FixedMetrics(new() { ["a"] = Metrics(), ["b"] = Metrics(fid: 19), ["bad"] = Metrics(fid: double.NaN), ["empty"] = [] });
        var baselines = new Baselines(docs);
        await baselines.BlessAsync("nightly", "a", source);
        await baselines.BlessAsync("nightly", "b", source);
        var current = await baselines.GetAsync("nightly");
        Assert.Equal("b", current!.RunId);
        Assert.Equal(19, current.Metrics["fid"].Value);
        Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "worker", "baselines", "history", "nightly")));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", "bad", source));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", "empty", source));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", "unknown", source));
    }
}

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
    [InlineData(20.49, 0.30, 100, "fid", MetricOutcome.Within)]              // fid worse, inside max(0.5, 2 % of 20)
    [InlineData(15.0, 0.30, 100, "fid", MetricOutcome.Improved)]             // fid much better: passes, suggests blessing
    [InlineData(20.0, 0.299, 100, "clip_score", MetricOutcome.Within)]       // clip lower by 0.001 < 0.002
    [InlineData(20.0, 0.30, 91, "throughput_train", MetricOutcome.Within)]   // throughput −9 % < 10 %
    public void Changes_within_tolerance_or_for_the_better_pass(double fid, double clip, double throughput, string changed, MetricOutcome expected)
    {
        var report = Check(Metrics(fid, clip, throughput));
        Assert.Equal(Verdict.Passed, report.Verdict);
        // The changed metric gets the expected outcome, the two unchanged ones stay within.
        Assert.Equal(expected, report.Checks.Single(c => c.Metric == changed).Outcome);
        Assert.All(report.Checks.Where(c => c.Metric != changed), c => Assert.Equal(MetricOutcome.Within, c.Outcome));
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
        Assert.Contains("| fid | FID | 20 (1) | 21 | +1 | ±0.5 (absolute) | ≤ 20.5 | lower | **Regressed** |", md);
        var json = WorkerJson.Serialize(report);
        Assert.Equal("regressed", JsonDocument.Parse(json).RootElement.GetProperty("verdict").GetString());
        var back = WorkerJson.Deserialize<RegressionReport>(json, "report");
        Assert.Equal(report.Checks, back.Checks);
    }

    /// <summary>Runs' metrics and pipelines by run id (pipeline "nightly" unless named).</summary>
    private sealed class FixedMetrics(Dictionary<string, Dictionary<string, MetricValue>> runs, Dictionary<string, string>? pipelines = null) : IRunMetricsSource
    {
        public Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, MetricValue>?>(runs.GetValueOrDefault(runId));

        public Task<string?> GetPipelineAsync(string runId, CancellationToken ct) =>
            Task.FromResult(runs.ContainsKey(runId) ? pipelines?.GetValueOrDefault(runId) ?? "nightly" : null);
    }

    [Fact]
    public async Task Blessing_stores_the_runs_metrics_and_keeps_the_previous_baseline()
    {
        using var dir = new TempDir();
        var docs = new FileDocumentStore(dir.Path);
        var source = new FixedMetrics(new() { ["a"] = Metrics(), ["b"] = Metrics(fid: 19), ["bad"] = Metrics(fid: double.NaN), ["empty"] = [] });
        var baselines = new Baselines(docs);
        await baselines.BlessAsync("nightly", ["a"], source);
        await baselines.BlessAsync("nightly", ["b"], source);
        var current = await baselines.GetAsync("nightly");
        Assert.Equal("b", current!.RunId);
        Assert.Equal(19, current.Metrics["fid"].Value);
        Assert.Null(current.SpreadOf("fid").Sd);                           // one run: no spread
        Assert.Equal([19.0], current.SpreadOf("fid").Values);
        Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "worker", "baselines", "history", "nightly")));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", ["bad"], source));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", ["empty"], source));
        await Assert.ThrowsAsync<InvalidOperationException>(() => baselines.BlessAsync("nightly", ["unknown"], source));
    }

    [Fact]
    public async Task Blessing_several_runs_stores_each_metrics_mean_spread_and_values()
    {
        using var dir = new TempDir();
        var source = new FixedMetrics(new() { ["s1"] = Metrics(fid: 21, clip: 0.30), ["s2"] = Metrics(fid: 20, clip: 0.30), ["s3"] = Metrics(fid: 19, clip: 0.30) });
        var baseline = await new Baselines(new FileDocumentStore(dir.Path)).BlessAsync("nightly", ["s1", "s2", "s3"], source);
        var stored = (await new Baselines(new FileDocumentStore(dir.Path)).GetAsync("nightly"))!;
        Assert.Equal(["s1", "s2", "s3"], stored.Runs);
        Assert.Equal("s1", stored.RunId);
        Assert.Equal("nightly", stored.Pipeline);
        Assert.Equal(new MetricValue(20, "FID"), stored.Metrics["fid"]);
        Assert.Equal(1.0, stored.SpreadOf("fid").Sd);                     // sample sd (n − 1) of 21, 20, 19
        Assert.Equal(3, stored.SpreadOf("fid").N);
        Assert.Equal([21.0, 20.0, 19.0], stored.SpreadOf("fid").Values);  // in the order the runs were named
        Assert.Equal(0.30, stored.Metrics["clip_score"].Value);           // equal values: exactly that value, spread exactly 0
        Assert.Equal(0.0, stored.SpreadOf("clip_score").Sd);
        Assert.Equal("3 runs: s1, s2, s3", baseline.Description);
    }

    [Fact]
    public async Task Blessing_refuses_runs_that_are_not_comparable_and_names_the_culprit()
    {
        using var dir = new TempDir();
        var lacking = Metrics();
        lacking.Remove("clip_score");
        var otherUnit = Metrics();
        otherUnit["throughput_train"] = new(100, "img/min");
        var source = new FixedMetrics(
            new() { ["s1"] = Metrics(), ["s2"] = Metrics(fid: 21), ["shapes"] = Metrics(), ["lacking"] = lacking, ["unit"] = otherUnit },
            new() { ["shapes"] = "shapes --profile tiny" });
        var baselines = new Baselines(new FileDocumentStore(dir.Path));
        async Task<string> Refused(params string[] runs) => (await Assert.ThrowsAnyAsync<Exception>(() => baselines.BlessAsync("nightly", runs, source))).Message;

        Assert.Equal("runs are not comparable: 's1' ran pipeline 'nightly', 'shapes' ran 'shapes --profile tiny'", await Refused("s1", "shapes"));
        Assert.Equal("runs are not comparable: run 'lacking' lacks metric 'clip_score' (run 's1' has it)", await Refused("s1", "lacking", "s2"));
        Assert.Equal("runs are not comparable: metric 'throughput_train' is in 'img/min' in run 'unit' but in 'img/s' in run 's1'", await Refused("s1", "unit"));
        Assert.StartsWith("run 's2' is named twice", await Refused("s1", "s2", "s2"));
        Assert.StartsWith("run 'nope' has no metrics", await Refused("s1", "nope"));
        Assert.Null(await baselines.GetAsync("nightly"));   // nothing was blessed
    }

    [Fact]
    public async Task A_baseline_document_from_before_multi_run_blessing_reads_as_one_run_without_spread()
    {
        using var dir = new TempDir();
        var docs = new FileDocumentStore(dir.Path);
        await docs.PutAsync(Baselines.PathOf("nightly"), """
            { "name": "nightly", "runId": "nightly-2026-11-25", "blessedUtc": "2026-11-25T03:00:00+00:00", "blessedBy": "ops",
              "metrics": { "fid": { "value": 20.0, "unit": "FID" }, "clip_score": { "value": 0.30, "unit": "CLIP score" },
                           "throughput_train": { "value": 100, "unit": "img/s" } } }
            """u8.ToArray(), default);
        var old = (await new Baselines(docs).GetAsync("nightly"))!;
        Assert.Equal(["nightly-2026-11-25"], old.Runs);
        Assert.Null(old.Pipeline);
        Assert.Equal(1, old.SpreadOf("fid").N);
        Assert.Null(old.SpreadOf("fid").Sd);
        var report = Check(Metrics(fid: 20.4), old, SpreadRules());
        Assert.Equal(Verdict.Passed, report.Verdict);
        Assert.Equal("absolute", report.Checks.Single(c => c.Metric == "fid").Basis);
    }

    private static RegressionOptions SpreadRules(double spreads = 3) => new()
    {
        Metrics =
        {
            ["fid"] = new MetricRule { Better = Better.Lower, Absolute = 0.5, Spreads = spreads },
            ["clip_score"] = new MetricRule { Better = Better.Higher, Absolute = 0.002, Spreads = spreads },
            ["throughput*"] = new MetricRule { Better = Better.Higher, Relative = 0.10 },
        },
    };

    /// <summary>A baseline of n runs whose fid has mean 20 and sample sd <paramref name="sd"/> (the others do not move).</summary>
    private static Baseline Spread(double sd, int n = 3)
    {
        var offsets = n == 3 ? new[] { -sd, 0, sd } : throw new ArgumentOutOfRangeException(nameof(n));
        var baseline = Blessed();
        return baseline with
        {
            RunIds = ["s1", "s2", "s3"],
            Spread = new Dictionary<string, MetricSpread>
            {
                ["fid"] = new(sd, n, offsets.Select(o => 20 + o).ToArray()),
                ["clip_score"] = new(0, n, [0.30, 0.30, 0.30]),
                ["throughput_train"] = new(0, n, [100.0, 100, 100]),
            },
        };
    }

    [Fact]
    public void The_spread_term_is_k_standard_deviations_widened_for_a_mean_of_n_runs()
    {
        // 3 · 1.0 · √(1 + 1/3) = 3.4641016…: a new run 3.4 worse than the mean of 3 seeds passes, 3.5 worse is flagged.
        var rule = new MetricRule { Better = Better.Lower, Absolute = 0.5, Relative = 0.01, Spreads = 3 };
        var tolerance = rule.For(20, new MetricSpread(1.0, 3, [19.0, 20, 21]));
        Assert.Equal(3.4641016151377544, tolerance.Allowed, 12);
        Assert.Equal("3 sd·√(1+1/3)", tolerance.Basis);
        Assert.False(tolerance.NoSpread);
        Assert.Equal(Verdict.Passed, Check(Metrics(fid: 23.4), Spread(1.0), SpreadRules()).Verdict);
        var flagged = Check(Metrics(fid: 23.5), Spread(1.0), SpreadRules());
        Assert.Equal(Verdict.Regressed, flagged.Verdict);
        Assert.Equal("fid", Assert.Single(flagged.Checks, c => c.Fails).Metric);
        // Direction-aware: as far the good way is an improvement, not a failure.
        Assert.Equal(MetricOutcome.Improved, Check(Metrics(fid: 16.5), Spread(1.0), SpreadRules()).Checks.Single(c => c.Metric == "fid").Outcome);
    }

    [Theory]
    [InlineData(0.0, 0.1, 0.5, "absolute")]          // 3 · 0.1 · 1.1547 = 0.35 < 0.5: the absolute floor governs
    [InlineData(0.0, 1.0, 3.4641016151377544, "3 sd·√(1+1/3)")]
    [InlineData(0.05, 0.2, 1.0, "5% relative")]      // 5 % of 20 = 1.0 > 3 · 0.2 · 1.1547 = 0.69
    public void The_largest_term_sets_the_tolerance(double relative, double sd, double allowed, string basis)
    {
        var tolerance = new MetricRule { Better = Better.Lower, Absolute = 0.5, Relative = relative, Spreads = 3 }.For(20, new MetricSpread(sd, 3, [20 - sd, 20, 20 + sd]));
        Assert.Equal(allowed, tolerance.Allowed, 12);
        Assert.Equal(basis, tolerance.Basis);
    }

    [Fact]
    public void With_one_blessed_run_a_spread_rule_falls_back_to_its_absolute_and_relative_parts_and_says_so()
    {
        var tolerance = new MetricRule { Better = Better.Lower, Absolute = 0.5, Relative = 0.01, Spreads = 3 }.For(20, new MetricSpread(null, 1, [20.0]));
        Assert.Equal(0.5, tolerance.Allowed);
        Assert.True(tolerance.NoSpread);
        var report = Check(Metrics(fid: 20.6), Blessed(), SpreadRules());
        Assert.Equal(Verdict.Regressed, report.Verdict);
        var fid = report.Checks.Single(c => c.Metric == "fid");
        Assert.Equal(0.5, fid.Allowed);
        Assert.EndsWith("; no spread measured: bless ≥ 2 runs", fid.Note);
        Assert.Contains("no spread measured: bless ≥ 2 runs", report.ToMarkdown());
        // A rule without Spreads never asks for one.
        Assert.DoesNotContain("no spread", report.Checks.Single(c => c.Metric == "throughput_train").Note);
    }

    [Fact]
    public void A_metric_the_seed_does_not_move_has_sd_0_and_keeps_its_absolute_floor()
    {
        var baseline = Spread(1.0);   // clip_score: 0.30 in all three runs
        Assert.Equal(Verdict.Passed, Check(Metrics(clip: 0.2985), baseline, SpreadRules()).Verdict);
        var flagged = Check(Metrics(clip: 0.297), baseline, SpreadRules());
        Assert.Equal(Verdict.Regressed, flagged.Verdict);
        var clip = flagged.Checks.Single(c => c.Metric == "clip_score");
        Assert.Equal((0.002, "absolute", 0.0, 3), (clip.Allowed!.Value, clip.Basis, clip.BaselineSd!.Value, clip.BaselineN!.Value));
        var exact = new MetricRule { Better = Better.Higher, Spreads = 3 }.For(0.30, new MetricSpread(0, 3, [0.30, 0.30, 0.30]));
        Assert.Equal(0, exact.Allowed);   // no floor and no spread: any move the bad way fails
    }

    [Theory]
    [InlineData(23.5, MetricOutcome.Regressed)]
    [InlineData(16.5, MetricOutcome.Regressed)]
    [InlineData(23.4, MetricOutcome.Within)]
    [InlineData(16.6, MetricOutcome.Within)]
    public void Either_direction_flags_a_move_beyond_the_spread_both_ways(double fid, MetricOutcome expected)
    {
        var rules = SpreadRules();
        rules.Metrics["fid"] = new MetricRule { Better = Better.Either, Spreads = 3 };
        var check = Check(Metrics(fid: fid), Spread(1.0), rules).Checks.Single(c => c.Metric == "fid");
        Assert.Equal(expected, check.Outcome);
        Assert.Equal("16.5359 … 23.4641", check.PassBand);
    }

    [Fact]
    public void The_report_shows_the_baseline_mean_sd_n_and_the_pass_band()
    {
        var report = Check(Metrics(fid: 23.5), Spread(1.0), SpreadRules());
        var md = report.ToMarkdown();
        Assert.Contains("Baseline **nightly** = mean of 3 runs: s1, s2, s3", md);
        Assert.Contains("| fid | FID | 20 ± 1 (3) | 23.5 | +3.5 | ±3.4641 (3 sd·√(1+1/3)) | ≤ 23.4641 | lower | **Regressed** |", md);
        Assert.Contains("| clip_score | CLIP score | 0.3 ± 0 (3) | 0.3 | 0 | ±0.002 (absolute) | ≥ 0.298 | higher | Within |", md);
        Assert.Contains("(mean of 3 runs: s1, s2, s3)", report.Summary);
        var back = WorkerJson.Deserialize<RegressionReport>(WorkerJson.Serialize(report), "report");
        Assert.Equal(report.Checks, back.Checks);
        Assert.Equal(report.BaselineRuns, back.BaselineRuns);
    }

    [Fact]
    public void A_run_of_another_pipeline_than_the_baselines_is_incomparable()
    {
        var baseline = Blessed() with { Pipeline = "nightly" };
        var report = RegressionCheck.Compare("r", Metrics(), "nightly", baseline, Rules(), runPipeline: "shapes");
        Assert.Equal(Verdict.Incomparable, report.Verdict);
        Assert.Equal("run 'r' ran pipeline 'shapes' but baseline 'nightly' was blessed from 'nightly'", report.Problem);
        Assert.Equal(Verdict.Passed, RegressionCheck.Compare("r", Metrics(), "nightly", baseline, Rules(), runPipeline: "nightly").Verdict);
    }

    [Fact]
    public void Seed_axis_metrics_fold_into_one_metric_per_variant()
    {
        Assert.Equal("evaluate[intermediate-cross].fid", SeedPooling.Unseeded("evaluate[intermediate-cross/seed=2].fid"));
        Assert.Equal("evaluate.fid", SeedPooling.Unseeded("evaluate[seed=12].fid"));
        Assert.Equal("evaluate[early-concat].fid", SeedPooling.Unseeded("evaluate[early-concat].fid"));
        Assert.Equal("fid", SeedPooling.Unseeded("fid"));
        var pooled = SeedPooling.Pool(new Dictionary<string, MetricValue>
        {
            ["evaluate[a/seed=1].fid"] = new(21, "FID"), ["evaluate[a/seed=2].fid"] = new(19, "FID"), ["evaluate[b].fid"] = new(5, "FID"),
        });
        Assert.Equal(["evaluate[a].fid", "evaluate[b].fid"], pooled.Keys);
        Assert.Equal([21.0, 19.0], pooled["evaluate[a].fid"].Values);
        Assert.Equal(20.0, pooled["evaluate[a].fid"].Mean);
    }

    [Fact]
    public async Task One_run_of_a_three_seed_pipeline_blesses_a_spread_and_a_reseeded_run_is_judged_by_its_seed_mean()
    {
        // The nightly trains every variant under seeds 1–3: blessing that one run measures the seed-to-seed spread
        // (n = 3); a run under seeds 4–6 is compared through the mean of its three seeds, allowed k·sd·√(1/3 + 1/3).
        static Dictionary<string, MetricValue> Seeds(int first, params double[] fids) =>
            fids.Select((f, i) => (Key: $"evaluate[v/seed={first + i}].fid", Value: new MetricValue(f, "FID"))).ToDictionary(x => x.Key, x => x.Value);
        using var dir = new TempDir();
        var source = new FixedMetrics(new() { ["healthy"] = Seeds(1, 19, 20, 21) });
        var baseline = await new Baselines(new FileDocumentStore(dir.Path)).BlessAsync("nightly", ["healthy"], source);
        Assert.Equal(["evaluate[v].fid"], baseline.Metrics.Keys);
        Assert.Equal(20.0, baseline.Metrics["evaluate[v].fid"].Value);
        Assert.Equal(1.0, baseline.SpreadOf("evaluate[v].fid").Sd);
        Assert.Equal(3, baseline.SpreadOf("evaluate[v].fid").N);

        var rules = new RegressionOptions { Metrics = { ["*.fid"] = new MetricRule { Better = Better.Lower, Spreads = 3 } } };
        // 3 · 1 · √(2/3) = 2.449…: seed means 22.4 pass, 22.5 are flagged.
        var reseeded = RegressionCheck.Compare("r", Seeds(4, 21.4, 22.4, 23.4), "nightly", baseline, rules);
        Assert.Equal(Verdict.Passed, reseeded.Verdict);
        var row = Assert.Single(reseeded.Checks);
        Assert.Equal(22.4, row.Current!.Value, 12);
        Assert.Equal(3 * Math.Sqrt(2.0 / 3), row.Allowed!.Value, 12);
        Assert.Equal("3 sd·√(1/3+1/3)", row.Basis);
        Assert.Equal(Verdict.Regressed, RegressionCheck.Compare("r", Seeds(4, 21.5, 22.5, 23.5), "nightly", baseline, rules).Verdict);
        // A single-seed run against the same baseline gets the one-run band 3 · √(1 + 1/3) = 3.46.
        Assert.Equal(Verdict.Passed, RegressionCheck.Compare("r", Seeds(7, 23.4), "nightly", baseline, rules).Verdict);
        Assert.Equal(Verdict.Regressed, RegressionCheck.Compare("r", Seeds(7, 23.5), "nightly", baseline, rules).Verdict);
    }
}

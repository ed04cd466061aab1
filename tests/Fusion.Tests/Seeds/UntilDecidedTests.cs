using Fusion.Reproduction.Report;
using Fusion.Reproduction.Seeds;
using Fusion.Reproduction.Stages;
using Fusion.Tests.Workflow;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Seeds;

/// <summary>
/// `fusion run --until-decided` on a toy pipeline whose truth is known (<see cref="ClaimTrainStage"/>), through the real
/// engine and the real report stage; and one-seed reports with and without a stored seed spread.
/// </summary>
public class UntilDecidedTests
{
    private const string PaperRow = "[intermediate-cross vs early-concat (the paper's model)]";

    private sealed class Toy : IDisposable
    {
        public EngineHarness H { get; } = new();
        public StageRegistry Registry { get; } = ClaimMeasureStage.Registry();
        public List<RunRecord> Runs { get; } = [];

        public Pipeline Load(string path, IReadOnlyList<string> overrides) => PipelineLoader.Load(path, Registry, null, overrides);

        public async Task<RunRecord> RunAsync(Pipeline p, IReadOnlyList<string> overrides, CancellationToken ct)
        {
            var run = await new Executor(H.Store, Registry, new FixedEnvironmentFacts(H.Facts), NullLoggerFactory.Instance)
                .RunAsync(p, new RunOptions { Overrides = overrides, Jobs = 2 }, ct);
            Runs.Add(run);
            return run;
        }

        public Task<SequentialOutcome> UntilDecidedAsync(string yaml, int maxSeeds, CancellationToken ct = default, Action<int, int>? onLook = null, params string[] overrides)
        {
            var path = H.Write(yaml);
            return new UntilDecided(o => Load(path, o), RunAsync).RunAsync(overrides, maxSeeds, null, onLook, ct);
        }

        public async Task<string> ReportTextAsync(RunRecord run)
        {
            var node = run.Nodes.Single(n => n.NodeId == "report");
            var manifest = (await H.Store.GetManifestAsync(node.Fingerprint)).Manifest!;
            return await File.ReadAllTextAsync(await H.Store.GetLocalPathAsync(manifest, "report.md"));
        }

        public void Dispose() => H.Dispose();
    }

    private static IReadOnlyDictionary<string, string> Verdicts(RunRecord run) => run.Nodes.Single(n => n.NodeId == "report").Summary!;

    [Fact]
    public async Task A_large_true_difference_stops_early_with_supported()
    {
        using var toy = new Toy();
        var outcome = await toy.UntilDecidedAsync(ClaimMeasureStage.Pipeline(effect: 10, noise: 0.5), maxSeeds: 8);
        Assert.Equal(StopCause.Decided, outcome.Cause);
        Assert.InRange(outcome.Seeds, 2, 4);   // one seed never decides (no spread), and 10 sd of effect needs few more
        Assert.Equal("supported", Verdicts(outcome.Run)["Higher CLIP Score " + PaperRow]);
        Assert.Equal("supported", Verdicts(outcome.Run)["Lower FID " + PaperRow]);
        Assert.Equal("0", Verdicts(outcome.Run)[ReportStage.UndecidedKey]);
        var report = await toy.ReportTextAsync(outcome.Run);
        Assert.Contains($"Sequential run: {outcome.Seeds} seeds of at most 8", report);
        Assert.Contains("Lan–DeMets Pocock-type alpha spending", report);
        // Every look before the last left something undecided; the first was judged on one seed without a spread.
        Assert.Equal(outcome.Seeds, toy.Runs.Count);
        Assert.Contains("one seed: seed-to-seed spread unknown", await toy.ReportTextAsync(toy.Runs[0]));
    }

    [Fact]
    public async Task An_identical_pair_stops_equivalent_and_a_noisy_one_at_its_cap_inconclusive()
    {
        using var toy = new Toy();
        var quiet = await toy.UntilDecidedAsync(ClaimMeasureStage.Pipeline(effect: 0, noise: 0.05), maxSeeds: 8);
        Assert.Equal(StopCause.Decided, quiet.Cause);
        Assert.Equal("equivalent", Verdicts(quiet.Run)["Higher CLIP Score " + PaperRow]);
        Assert.Equal("equivalent", Verdicts(quiet.Run)["Lower FID " + PaperRow]);

        using var noisy = new Toy();
        var capped = await noisy.UntilDecidedAsync(ClaimMeasureStage.Pipeline(effect: 0, noise: 3), maxSeeds: 3);
        Assert.Equal(StopCause.SeedCap, capped.Cause);
        Assert.Equal(3, capped.Seeds);
        Assert.Equal("inconclusive", Verdicts(capped.Run)["Higher CLIP Score " + PaperRow]);
        Assert.Contains("Stopped undecided: the seed cap is reached", await noisy.ReportTextAsync(capped.Run));
    }

    [Fact]
    public async Task A_stopped_run_resumes_from_its_cached_looks_and_decides_as_it_would_have()
    {
        using var toy = new Toy();
        var yaml = ClaimMeasureStage.Pipeline(effect: 10, noise: 0.5);
        using var stop = new CancellationTokenSource();
        var first = await toy.UntilDecidedAsync(yaml, 8, stop.Token, (seeds, _) => { if (seeds == 2) stop.Cancel(); });
        Assert.Equal(StopCause.RunEnded, first.Cause);
        Assert.Equal(2, first.Seeds);
        var before = toy.Runs.Count;
        var resumed = await toy.UntilDecidedAsync(yaml, 8);
        using var fresh = new Toy();
        var straight = await fresh.UntilDecidedAsync(yaml, 8);
        Assert.Equal((StopCause.Decided, straight.Seeds), (resumed.Cause, resumed.Seeds));
        // The looks it had made are cached: the resumed run computes only what the stopped one never reached.
        var again = toy.Runs.Skip(before).ToList();
        Assert.All(again.Take(2), r => Assert.DoesNotContain(r.Nodes, n => n.State == NodeState.Ran && n.NodeId.StartsWith("train", StringComparison.Ordinal)));
        Assert.Equal(Verdicts(straight.Run)["Higher CLIP Score " + PaperRow], Verdicts(resumed.Run)["Higher CLIP Score " + PaperRow]);
    }

    [Fact]
    public async Task One_seed_is_inconclusive_without_a_stored_spread_and_uses_one_only_for_its_own_recipe()
    {
        using var toy = new Toy();
        var yaml = ClaimMeasureStage.Pipeline(effect: 10, noise: 0.5, reportParams: ", seed_spread: spread.json");
        var plainYaml = ClaimMeasureStage.Pipeline(effect: 10, noise: 0.5);
        var plainPath = toy.H.Write(plainYaml, "plain.yaml");
        var oneSeed = await toy.RunAsync(toy.Load(plainPath, []), [], default);
        Assert.Equal("inconclusive", Verdicts(oneSeed)["Higher CLIP Score " + PaperRow]);
        Assert.Contains("**inconclusive (one seed: seed-to-seed spread unknown)**", await toy.ReportTextAsync(oneSeed));

        // Calibrate seeds 1–5 of the same recipe, as `fusion calibrate` does, and store the spread beside the pipeline.
        var five = toy.Load(plainPath, ["train.seeds=[1,2,3,4,5]"]);
        Assert.Equal(RunState.Succeeded, (await toy.RunAsync(five, [], default)).State);
        var planned = Fingerprinter.Compute(five, toy.Registry, toy.H.Facts);
        async Task<List<RunResult>> Runs(string v) => [.. await Task.WhenAll(Enumerable.Range(1, 5).Select(async s =>
        {
            var node = planned[$"evaluate[{v}/seed={s}]"];
            return await Calibration.ReadRunAsync(toy.H.Store, (await toy.H.Store.GetManifestAsync(node.Fingerprint)).Manifest!, v, s, node.Recipe, default);
        }))];
        var (ri, re) = (await Runs("intermediate-cross"), await Runs("early-concat"));
        var comparison = Calibration.Spread("intermediate-cross", "early-concat", ri[0].Recipe!, re[0].Recipe!, ri.Zip(re).ToList());
        File.WriteAllText(toy.H.Dir["spread.json"], new SeedSpread("toy", "fusion calibrate toy --seeds 5", "2026-01-01", "test", [comparison]).ToJson());
        // The single-seed run's recipe is the calibrated one: the seed and the machine are not part of it.
        Assert.Equal(ri[0].Recipe, Fingerprinter.Compute(toy.Load(plainPath, []), toy.Registry, toy.H.Facts)["evaluate[intermediate-cross]"].Recipe);

        var withSpread = await toy.RunAsync(toy.Load(toy.H.Write(yaml, "spread.yaml"), []), [], default);
        Assert.Equal("supported", Verdicts(withSpread)["Higher CLIP Score " + PaperRow]);
        Assert.Contains("t-interval with the stored seed spread", await toy.ReportTextAsync(withSpread));
        // Another recipe (a different effect) with the same variant names: the stored spread is not used.
        var other = await toy.RunAsync(toy.Load(toy.H.Dir["spread.yaml"], ["train.effect=9"]), [], default);
        Assert.Equal("inconclusive", Verdicts(other)["Higher CLIP Score " + PaperRow]);
        Assert.Contains("one seed: the stored seed spread is for another recipe", await toy.ReportTextAsync(other));
        // A spread file that is not there is named at load, relative to the pipeline file that names it.
        var missing = Assert.Throws<PipelineException>(() => toy.Load(toy.H.Write(yaml.Replace("spread.json", "nowhere.json"), "missing.yaml"), []));
        Assert.Contains("seed_spread", missing.Message);
        Assert.Contains(toy.H.Dir["nowhere.json"], missing.Message);
        // Only the setting that wins is read: a later -p may unset it, and a command that writes the file loads first.
        Assert.Equal("null", toy.Load(toy.H.Dir["missing.yaml"], ["report.seed_spread=~"]).Node("report").Params["seed_spread"]);
        Assert.Equal("\"nowhere.json\"", PipelineLoader.Load(toy.H.Dir["missing.yaml"], toy.Registry, readFiles: false).Node("report").Params["seed_spread"]);
        // A changed spread file is a changed param: the report is recomputed, not reused.
        var fp = Fingerprinter.Compute(toy.Load(toy.H.Dir["spread.yaml"], []), toy.Registry, toy.H.Facts)["report"].Fingerprint;
        File.AppendAllText(toy.H.Dir["spread.json"], " ");
        Assert.NotEqual(fp, Fingerprinter.Compute(toy.Load(toy.H.Dir["spread.yaml"], []), toy.Registry, toy.H.Facts)["report"].Fingerprint);
    }

    [Fact]
    public async Task A_pipeline_without_a_seeded_stage_or_with_more_seeds_than_the_cap_is_refused()
    {
        using var toy = new Toy();
        var path = toy.H.Write(ClaimMeasureStage.Pipeline(1, 1).Replace("    seeds: [1]\n", ""));
        Assert.Contains("declares no seeds", Assert.Throws<PipelineException>(() => UntilDecided.SeedStage(toy.Load(path, []))).Message);
        var three = toy.H.Write(ClaimMeasureStage.Pipeline(1, 1), "three.yaml");
        var e = await Assert.ThrowsAsync<PipelineException>(() => new UntilDecided(o => toy.Load(three, o), toy.RunAsync).RunAsync(["train.seeds=[1,2,3]"], 2, null, null, default));
        Assert.Contains("--max-seeds 2 is below the 3 seeds", e.Message);
    }
}

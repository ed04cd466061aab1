using System.CommandLine;
using System.Text.Json.Nodes;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Engine;
using Fusion.Worker.Hosting;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Worker;

/// <summary>
/// The nightly's detection mechanism end to end on a toy pipeline with the nightly's metric names
/// (<see cref="ToyEvaluateStage"/>: a known seed-to-seed spread) and the real rules of infra/worker/worker.json:
/// `fusion baseline bless` over three seeds, then a reseeded healthy run passes and a run whose model never sees a
/// caption (<c>train.p_uncond=1.0</c>) is flagged on alignment and CLIP Score, not on FID.
/// </summary>
public sealed class NightlyDetectionTests
{
    [Fact]
    public async Task A_baseline_blessed_over_three_seeds_passes_a_fourth_seed_and_flags_a_broken_text_path()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["nightly.yaml"], ToyEvaluateStage.Pipeline);
        File.WriteAllText(dir["other.yaml"], ToyEvaluateStage.Pipeline);
        // The nightly's own rules, with the report folder moved from /data/fusion/reports to this test's folder.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "infra", "worker", "worker.json")))!;
        config["Worker"]!["Regression"]!["ReportDirectory"] = dir["reports"];
        File.WriteAllText(dir["worker.json"], config.ToJsonString());

        await using var store = new LocalArtifactStore(dir["store"]);
        var docs = new ArtifactStoreDocuments(store);
        var engine = new WorkerEngine(store, ToyEvaluateStage.Registry(), new FixedEnvironmentFacts(EnvironmentFacts.Of(("device", "cpu"))));
        // The command disposes the store it opens, as the CLI's does: give it its own instance on the same folder.
        WorkerEngine Open(ParseResult _) => engine with { Store = new LocalArtifactStore(dir["store"]) };
        var launcher = new EngineRunLauncher(store, engine.Registry, engine.Environment, NullLoggerFactory.Instance, docs);
        async Task Run(string runId, string seed, string pUncond = "0.1", string pipeline = "nightly.yaml") =>
            Assert.Equal(RunState.Succeeded, (await launcher.RunAsync(new RunRequest(runId, dir[pipeline],
                new Dictionary<string, string> { ["train.seed"] = seed, ["train.p_uncond"] = pUncond }), CancellationToken.None)).State);
        var root = new RootCommand { WorkerCommands.Baseline(Open) };
        Task<int> Cli(params string[] args) => root.Parse(args).InvokeAsync();
        async Task<RegressionReport> Check(string runId, string baseline, int exitCode)
        {
            Assert.Equal(exitCode, await Cli("baseline", "check", runId, "--name", baseline, "--config", dir["worker.json"]));
            return WorkerJson.Deserialize<RegressionReport>(await File.ReadAllBytesAsync(dir[$"reports/{runId}.regression.json"]), runId);
        }
        static string[] Failing(RegressionReport r) => r.Checks.Where(c => c.Fails).Select(c => c.Metric).ToArray();

        // Bless the nightly under seeds 1..3.
        foreach (var seed in new[] { "1", "2", "3" }) await Run($"nightly-seed{seed}", seed);
        Assert.Equal(0, await Cli("baseline", "bless", "nightly-seed1", "nightly-seed2", "nightly-seed3", "--name", "nightly"));
        var baseline = (await new Baselines(docs).GetAsync("nightly"))!;
        Assert.Equal(["nightly-seed1", "nightly-seed2", "nightly-seed3"], baseline.Runs);
        Assert.Equal("nightly", baseline.Pipeline);
        const string alignment = "evaluate[intermediate-cross].alignment_all", clip = "evaluate[intermediate-cross].clip_score";
        Assert.Equal(0.60, baseline.Metrics[alignment].Value, 12);
        Assert.Equal(0.02, baseline.SpreadOf(alignment).Sd!.Value, 12);
        Assert.Equal([0.62, 0.60, 0.58], baseline.SpreadOf(alignment).Values);
        Assert.Equal(0.5, baseline.SpreadOf(clip).Sd!.Value, 12);
        Assert.Equal(0.0, baseline.SpreadOf("reference.fid").Sd);   // the seed does not move the real-images reference

        // A healthy run that differs only in its seed: 2 sd worse on every seed-dependent metric (beyond the absolute
        // floors), inside 4 sd·√(1 + 1/3).
        await Run("nightly-seed4", "4");
        var healthy = await Check("nightly-seed4", "nightly", 0);
        Assert.Equal(Verdict.Passed, healthy.Verdict);
        var healthyAlignment = healthy.Checks.Single(c => c.Metric == alignment);
        Assert.Equal(-0.04, healthyAlignment.Delta!.Value, 12);
        Assert.Equal(4 * 0.02 * Math.Sqrt(4.0 / 3), healthyAlignment.Allowed!.Value, 12);
        Assert.Equal("4 sd·√(1+1/3)", healthyAlignment.Basis);
        Assert.Equal("absolute", healthy.Checks.Single(c => c.Metric == "reference.fid").Basis);
        Assert.Equal("passed", (await new DocumentRunStatusWriter(docs).GetAsync("nightly-seed4", default))!.Status);

        // The broken text path: flagged on alignment and CLIP Score of every trained variant; FID and the reference pass.
        await Run("nightly-text-off", "4", pUncond: "1.0");
        var broken = await Check("nightly-text-off", "nightly", 1);
        Assert.Equal(Verdict.Regressed, broken.Verdict);
        Assert.Equal(["evaluate[early-cross].alignment_all", "evaluate[early-cross].clip_score", alignment, clip], Failing(broken));
        Assert.All(broken.Checks.Where(c => c.Fails), c => Assert.Equal(MetricOutcome.Regressed, c.Outcome));
        Assert.Equal("regressed", (await new DocumentRunStatusWriter(docs).GetAsync("nightly-text-off", default))!.Status);

        // Blessed from one seed there is no spread: the same healthy run fails the absolute floors, and the report says why.
        Assert.Equal(0, await Cli("baseline", "bless", "nightly-seed2", "--name", "one-seed"));
        var oneSeed = await Check("nightly-seed4", "one-seed", 1);
        Assert.Equal(Verdict.Regressed, oneSeed.Verdict);
        Assert.Contains(alignment, Failing(oneSeed));
        Assert.Contains(Tolerance.NoSpreadNote, oneSeed.Checks.Single(c => c.Metric == alignment).Note);
        Assert.Contains(Tolerance.NoSpreadNote, await File.ReadAllTextAsync(dir["reports/nightly-seed4.regression.md"]));

        // Runs of another pipeline are neither blessed with the nightly's nor checked against its baseline.
        await Run("other-seed1", "1", pipeline: "other.yaml");
        Assert.Equal(2, await Cli("baseline", "bless", "nightly-seed1", "other-seed1", "--name", "mixed"));
        Assert.Null(await new Baselines(docs).GetAsync("mixed"));
        Assert.Equal(Verdict.Incomparable, (await Check("other-seed1", "nightly", 1)).Verdict);
    }
}

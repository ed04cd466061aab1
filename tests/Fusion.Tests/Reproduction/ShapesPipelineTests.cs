using System.Globalization;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Artifacts.Tables;
using Fusion.Cli;
using Fusion.Reproduction.Stages;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Engine;
using Fusion.Worker.Regression;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Fusion.Tests.Reproduction;

/// <summary>
/// The default pipeline at its tiny profile, end to end: every stage kind of the shapes reproduction runs, the report's
/// numbers are those of the metric artifacts, a rerun does no work, and a run killed (SIGKILL) at a random point
/// resumes to the same results: every artifact but the timings (measure, report) is identical, byte for byte, to the
/// uninterrupted run's. It runs alone: libtorch's default generator is one per process, and tests drawing from it in
/// parallel would change the weights this run initialises from its seeds.
/// </summary>
[Collection(nameof(ShapesPipelineTests))]
public sealed class ShapesPipelineTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string PipelineFile = Path.Combine(Fixtures.RepoRoot, "pipelines", "shapes.yaml");
    private static IConfiguration WorkerConfig() =>
        new ConfigurationBuilder().AddJsonFile(Path.Combine(Fixtures.RepoRoot, "infra", "worker", "worker.json")).Build();
    private readonly TempDir _dir = new();

    private static StageRegistry Registry() =>
        new StageRegistry().AddAssembly(typeof(TrainStage).Assembly).AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);

    private static readonly IEnvironmentFactsProvider Facts = new TorchFacts("cpu", "float32");

    private static Pipeline Load(StageRegistry registry) => PipelineLoader.Load(PipelineFile, registry, "tiny");

    private static Executor Executor(IArtifactStore store, StageRegistry registry) => new(store, registry, Facts, NullLoggerFactory.Instance);

    [Fact]
    public async Task TinyProfileRunsEndToEndResumesAfterAKillAndReportsItsMetricArtifacts()
    {
        var registry = Registry();
        var pipeline = Load(registry);
        var nodes = Fingerprinter.Compute(pipeline, registry, Facts.GetFacts());

        // 1. Uninterrupted run.
        await using var clean = new LocalArtifactStore(_dir["clean"]);
        var first = await Executor(clean, registry).RunAsync(pipeline, new RunOptions());
        Assert.True(first.State == RunState.Succeeded, string.Join("\n", first.Nodes.Where(n => n.Error is not null).Select(n => $"{n.NodeId}: {n.Error}")));
        Assert.All(first.Nodes, n => Assert.Equal(NodeState.Ran, n.State));

        // 2. The report's table holds exactly the numbers of the metric artifacts it was built from.
        var report = await ManifestOf(clean, nodes["report"].Fingerprint);
        var csv = (await File.ReadAllLinesAsync(await clean.GetLocalPathAsync(report, "results.csv"))).Select(l => l.Split(',')).ToList();
        var header = csv[0].ToList();
        foreach (var variant in new[] { "early-concat", "early-cross", "intermediate-concat", "intermediate-cross", "intermediate-concat-matched", "intermediate-cross-matched" })
        {
            var row = csv.Single(r => r[0] == variant);
            double Cell(string column) => double.Parse(row[header.IndexOf(column)], CultureInfo.InvariantCulture);
            var evaluated = await MetricsOf(clean, nodes[$"evaluate[{variant}]"].Fingerprint);
            var measured = await MetricsOf(clean, nodes["measure"].Fingerprint, variant);
            foreach (var name in new[] { "fid", "clip_score", "alignment_all", "alignment_count" }) Assert.Equal(evaluated[name], Cell(name));
            foreach (var name in new[] { "parameters", "forward_gmacs", "train_steps_per_second" }) Assert.Equal(measured[name], Cell(name));
            Assert.True(measured["forward_gmacs"] > 0 && measured["train_steps_per_second"] > 0);
            // One seed: the quality metrics carry a bootstrap interval over the evaluation samples, the speeds one over rounds.
            foreach (var name in new[] { "fid", "clip_score", "train_steps_per_second" })
            {
                double Bound(string suffix) => double.Parse(row[header.IndexOf(name + suffix)], CultureInfo.InvariantCulture);
                Assert.True(Bound("_lo") <= Bound("_hi") && double.IsFinite(Bound("_lo")), $"{variant} {name}: [{Bound("_lo")}, {Bound("_hi")}]");
            }
            Assert.Equal("24", row[header.IndexOf("fid_n")]);
        }
        var markdown = await File.ReadAllTextAsync(await clean.GetLocalPathAsync(report, "report.md"));
        Assert.Contains("## Claims", markdown);
        // The parameter-matched intermediate variants have exactly the early variants' parameter count, and their own headline rows.
        string ParametersOf(string variant) => csv.Single(r => r[0] == variant)[header.IndexOf("parameters")];
        Assert.Equal(ParametersOf("early-concat"), ParametersOf("intermediate-cross-matched"));
        Assert.Equal(ParametersOf("early-concat"), ParametersOf("intermediate-concat-matched"));
        Assert.NotEqual(ParametersOf("early-concat"), ParametersOf("intermediate-cross"));
        Assert.Contains("intermediate-cross-matched vs early-concat (parameter-matched)", markdown);
        Assert.Contains("grid-intermediate-cross.png", markdown);
        Assert.Contains("CLIP Score convention", markdown);
        // Alignment is shown between its ceiling (real images) and its floor (real images, captions shuffled).
        Assert.Matches(@"\| \*chance \(real images, captions shuffled\)\* \|.* %", markdown);
        Assert.Contains("bootstrap over 24 evaluation samples (200 resamples), 1 seed", markdown);
        Assert.Contains("## Timing (interleaved rounds)", markdown);
        Assert.Contains("intermediate-cross vs early-concat (the paper's model)", markdown);
        Assert.Contains("### Breakdown: within each conditioning method", markdown);
        // Every verdict comes with its n. One seed of a recipe no stored spread matches (the tiny profile is not the
        // calibrated default) decides no quality claim, and says why; timing rounds decide on their own interval.
        Assert.Matches(@"\*\*inconclusive \(one seed: (seed-to-seed spread unknown|the stored seed spread is for another recipe)\)\*\* \(n = 1\)", markdown);
        Assert.DoesNotMatch(@"Higher CLIP Score \| [^|]* \| [^|]* \| \*\*(supported|not supported|equivalent)\*\*", markdown);
        Assert.Contains("> **One seed.**", markdown);
        Assert.Matches(@"\*\*(supported|not supported|inconclusive)\*\* \(n = 6\)", markdown);
        Assert.Contains("![Claims at a glance", markdown);
        var claims = await File.ReadAllLinesAsync(await clean.GetLocalPathAsync(report, "claims.csv"));
        Assert.Contains(claims, l => l.StartsWith("≈20 % fewer FLOPs,intermediate-cross vs early-concat", StringComparison.Ordinal) && (l.Contains(",supported,") || l.Contains(",not supported,")));
        // report.html beside it: the same report, every picture inlined, so it opens offline on its own.
        var html = await File.ReadAllTextAsync(await clean.GetLocalPathAsync(report, "report.html"));
        Assert.Equal(System.Text.RegularExpressions.Regex.Matches(markdown, @"!\[").Count, System.Text.RegularExpressions.Regex.Matches(html, "<img src=\"data:image/png;base64,").Count);
        Assert.Contains("class=\"verdict verdict-", html);

        // 2a. The evaluation prompts follow the rule COCO's do (EvalCaptions), with the seed recorded.
        var text = await ManifestOf(clean, nodes["text"].Fingerprint);
        var data = await ManifestOf(clean, nodes["data"].Fingerprint);
        var evalFile = await clean.GetLocalPathAsync(text, "eval/captions.parquet");
        var seed = long.Parse((await ParquetTable.ReadMetadataAsync(evalFile))[Fusion.Datasets.Coco.EvalCaptions.SeedKey], CultureInfo.InvariantCulture);
        var evalRows = await CaptionsTable.ReadAllAsync(evalFile);
        var val = new List<CaptionRow>();
        foreach (var f in data.Files.Where(f => f.Name.StartsWith("val/", StringComparison.Ordinal) && f.Name.EndsWith("captions.parquet", StringComparison.Ordinal)).OrderBy(f => f.Name, StringComparer.Ordinal))
            val.AddRange(await CaptionsTable.ReadAllAsync(await clean.GetLocalPathAsync(data, f.Name)));
        Assert.Equal(Fusion.Datasets.Coco.EvalCaptions.Choose(val, evalRows.Count, seed, "val").Select(e => e.CaptionId), evalRows.Select(r => r.CaptionId));

        // 2b. The nightly worker's rules (infra/worker/worker.json) judge every metric this pipeline reports: the run
        //     checked against itself as the baseline passes, with nothing left incomparable.
        var rules = WorkerConfig().GetSection("Worker:Regression").Get<RegressionOptions>()!;
        var metrics = (await new LedgerMetricsSource(clean, new FileDocumentStore(_dir["documents"])).GetMetricsAsync(first.RunId, default))!;
        Assert.Contains("evaluate[intermediate-cross].fid", metrics.Keys);
        var self = RegressionCheck.Compare(first.RunId, metrics, "nightly", new Baseline("nightly", first.RunId, DateTimeOffset.UtcNow, "test", metrics), rules);
        Assert.True(self.Verdict == Verdict.Passed, string.Join("; ", self.Checks.Where(c => c.Fails).Select(c => $"{c.Metric}: {c.Note}")));

        // 3. A second run of the finished pipeline does no work.
        var again = await Executor(clean, registry).RunAsync(pipeline, new RunOptions());
        Assert.Equal(nodes.Count, again.Nodes.Count);
        Assert.All(again.Nodes, n => Assert.Equal(NodeState.Cached, n.State));

        // 4. A child `fusion run` killed with SIGKILL after a random number of finished nodes, then resumed.
        var killedStore = _dir["killed"];
        var killAfter = Random.Shared.Next(1, nodes.Count - 1);
        output.WriteLine($"killing the child run after {killAfter} finished nodes");
        using var child = FusionCli.Start(["run", PipelineFile, "--profile", "tiny", "--store", killedStore, "--device", "cpu"]);
        _ = child.StandardOutput.ReadToEndAsync();
        _ = child.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (!child.HasExited && await FinishedNodesAsync(killedStore) < killAfter)
        {
            Assert.True(DateTime.UtcNow < deadline, "the child run made no progress");
            await Task.Delay(100);
        }
        // Killed mid-run, not found dead: a child that crashed at start would leave an empty store and make the
        // "resume" below an ordinary fresh run.
        Assert.False(child.HasExited, $"the child run exited by itself (code {(child.HasExited ? child.ExitCode : 0)}) before {killAfter} nodes finished");
        child.Kill(entireProcessTree: true);
        await child.WaitForExitAsync();

        await using (var killed = new LocalArtifactStore(killedStore))
        {
            // Nothing half-written is visible: every committed artifact verifies.
            var committed = new HashSet<string>();
            await foreach (var fp in killed.ListArtifactsAsync())
            {
                Assert.Null((await killed.GetManifestAsync(fp, verifyHashes: true)).Problem);
                committed.Add(fp);
            }
            // The resumed run reuses everything the killed run committed and computes exactly the rest.
            Assert.True(committed.Count >= killAfter, $"{committed.Count} artifacts committed, {killAfter} nodes had finished");
            var resumed = await Executor(killed, registry).RunAsync(pipeline, new RunOptions());
            Assert.Equal(RunState.Succeeded, resumed.State);
            Assert.Equal(nodes.Count, resumed.Nodes.Count);
            foreach (var n in resumed.Nodes)
                Assert.Equal(committed.Contains(n.Fingerprint) ? NodeState.Cached : NodeState.Ran, n.State);
            Assert.Contains(resumed.Nodes, n => n.State == NodeState.Cached);
            Assert.Contains(resumed.Nodes, n => n.State == NodeState.Ran);
            Assert.NotNull((await killed.GetManifestAsync(nodes["report"].Fingerprint)).Manifest);

            // ...to the same results as the uninterrupted run, in another process.
            foreach (var (id, node) in nodes)
            {
                if (node.Definition.Kind is "measure" or "report") continue;   // wall-clock figures
                var expected = await ManifestOf(clean, node.Fingerprint);
                var actual = await ManifestOf(killed, node.Fingerprint);
                Assert.True(expected.Files.SequenceEqual(actual.Files),
                    $"{id}: the resumed run's files differ from the uninterrupted run's: " +
                    string.Join(", ", actual.Files.Except(expected.Files).Select(f => f.Name)));
            }
        }
    }

    [Fact]
    public async Task A_training_node_killed_after_a_checkpoint_resumes_in_another_process_to_the_same_bytes()
    {
        // Checkpoints every 3 steps and log entries every 2, so the kill falls between log points: the resumed loss curve
        // must carry the running mean from the checkpoint. Enough steps that the kill lands mid-training.
        string[] args = ["run", PipelineFile, "--profile", "tiny", "--until", "train[early-concat]", "--device", "cpu",
            "-p", "train.steps=60", "-p", "train.save_every=3", "-p", "train.log_every=2"];
        var (code, log) = await FusionCli.RunAsync([.. args, "--store", _dir["straight"]], TimeSpan.FromMinutes(15));
        Assert.True(code == 0, log);
        // `fusion run` says once where the live curves are, and on which device slot the training node ran.
        Assert.Single(log.Split('\n'), l => l.Contains($"tensorboard --logdir {Path.Combine(Path.GetFullPath(_dir["straight"]), "scratch")}"));
        Assert.Contains(log.Split('\n'), l => l.Contains("train[early-concat]") && l.Contains("on cpu:0"));

        var killedStore = _dir["interrupted"];
        using (var child = FusionCli.Start([.. args, "--store", killedStore]))
        {
            _ = child.StandardOutput.ReadToEndAsync();
            _ = child.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow.AddMinutes(15);
            var scratch = Path.Combine(killedStore, "scratch");
            while (!child.HasExited && !(Directory.Exists(scratch) && Directory.EnumerateDirectories(scratch, "*.ckpt", SearchOption.AllDirectories).Any()))
            {
                Assert.True(DateTime.UtcNow < deadline, "the child run wrote no checkpoint");
                await Task.Delay(50);
            }
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
            Assert.NotEqual(0, child.ExitCode);
        }
        var checkpoints = Directory.EnumerateDirectories(Path.Combine(killedStore, "scratch"), "*.ckpt", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        output.WriteLine($"killed with checkpoints {string.Join(", ", checkpoints)}");
        (code, log) = await FusionCli.RunAsync([.. args, "--store", killedStore], TimeSpan.FromMinutes(15));
        Assert.True(code == 0, log);
        Assert.Contains("resumed from step", log);

        await using var straight = new LocalArtifactStore(_dir["straight"]);
        await using var resumed = new LocalArtifactStore(killedStore);
        var expected = new List<string>();
        await foreach (var fp in straight.ListArtifactsAsync()) expected.Add(fp);
        var actual = new List<string>();
        await foreach (var fp in resumed.ListArtifactsAsync()) actual.Add(fp);
        Assert.Equal(expected.Order(), actual.Order());
        foreach (var fp in expected)
        {
            var (a, b) = (await ManifestOf(straight, fp), await ManifestOf(resumed, fp));
            Assert.True(a.Files.SequenceEqual(b.Files), $"{a.Info.NodeId}: the resumed run's files differ: " + string.Join(", ", b.Files.Except(a.Files).Select(f => f.Name)));
        }
    }

    [Fact]
    public void Nightly_pipeline_is_the_shapes_pipeline_with_relations_a_longer_budget_and_three_seeds()
    {
        var registry = Registry();
        var shapes = Fingerprinter.Compute(PipelineLoader.Load(PipelineFile, registry), registry, Facts.GetFacts());
        var nightlyPipeline = PipelineLoader.Load(Path.Combine(Fixtures.RepoRoot, "pipelines", "nightly.yaml"), registry);
        var nightly = Fingerprinter.Compute(nightlyPipeline, registry, Facts.GetFacts());
        Assert.Equal("nightly", nightlyPipeline.Name);
        // The same stages, with every variant (the paper's four and the two parameter-matched ones) trained, sampled and
        // evaluated under three seeds.
        Assert.Equal(24, shapes.Count);
        Assert.Equal(24 + 6 * 3 * 2, nightly.Count);
        Assert.Equal(shapes.Keys.Select(k => k.Replace("]", "")).Order().Distinct(), nightly.Keys.Select(k => k.Replace("]", "").Split("/seed=")[0]).Order().Distinct());
        Assert.Equal("2000", nightly["train[early-concat/seed=3]"].Definition.Params["steps"]);
        Assert.Equal("3", nightly["train[early-concat/seed=3]"].Definition.Params["seed"]);
        Assert.Equal("0", nightly["train[intermediate-cross-matched/seed=2]"].Definition.Params["c"]);
        Assert.Equal(18, nightly["report"].Definition.Inputs["evaluate"].Count);
        // One in four images with a spatial relation in the default, three in four in the nightly.
        Assert.Equal("0.25", shapes["data"].Definition.Params["relation_fraction"]);
        Assert.Equal("0.75", nightly["data"].Definition.Params["relation_fraction"]);
        // Tiny U-ViTs train on one thread each (side by side on the cores), and their fingerprints record that count
        // whatever the machine's; sampling keeps every core.
        Assert.Equal("1", shapes["train[intermediate-cross]"].Definition.Params["threads"]);
        Assert.Equal("1", nightly["train[early-concat/seed=3]"].Parts["env.threads"]);
        Assert.Equal(Facts.GetFacts().Values["threads"], shapes["sample[intermediate-cross]"].Parts["env.threads"]);
        Assert.NotEqual(shapes["data"].Fingerprint, nightly["data"].Fingerprint);
        Assert.NotEqual(shapes["report"].Fingerprint, nightly["report"].Fingerprint);
        // The worker's example configuration schedules it.
        var schedule = WorkerConfig()["Worker:Schedules:nightly:Pipeline"];
        Assert.Equal("pipelines/nightly.yaml", schedule);
    }

    private static async Task<Fusion.Artifacts.Store.Manifest> ManifestOf(IArtifactStore store, string fingerprint) =>
        (await store.GetManifestAsync(fingerprint)).Manifest ?? throw new InvalidOperationException($"no artifact {fingerprint[..12]}");

    /// <summary>A node's metrics; of one variant where the node measures several (label <c>variant</c>).</summary>
    private static async Task<Dictionary<string, double>> MetricsOf(IArtifactStore store, string fingerprint, string? variant = null)
    {
        var manifest = await ManifestOf(store, fingerprint);
        return (await MetricsTable.ReadAsync(await store.GetLocalPathAsync(manifest, "metrics.parquet")))
            .Where(r => variant is null || r.Label("variant") == variant).ToDictionary(r => r.Name, r => r.Value);
    }

    /// <summary>Nodes the child run has finished (ran or cached), read from its ledger.</summary>
    private static async Task<int> FinishedNodesAsync(string storePath)
    {
        if (!Directory.Exists(storePath)) return 0;
        try
        {
            await using var store = new LocalArtifactStore(storePath);
            var docs = new EngineDocuments(store);
            var run = await docs.FindRunAsync(null);
            return run?.Nodes.Count(n => n.State is NodeState.Ran or NodeState.Cached) ?? 0;
        }
        catch (IOException) { return 0; }
        catch (System.Text.Json.JsonException) { return 0; }
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>Runs <see cref="ShapesPipelineTests"/> after, not beside, the other tests (see there why).</summary>
[CollectionDefinition(nameof(ShapesPipelineTests), DisableParallelization = true)]
public sealed class ShapesPipelineCollection;

using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;

namespace Fusion.Tests.Workflow;

public sealed class ExecutionTests
{
    private const string Chain = """
        stages:
          data: {kind: constant, params: {text: abc}}
          a: {kind: transform, inputs: {source: data}, params: {factor: 2}}
          b: {kind: transform, inputs: {source: a}}
          side: {kind: constant, params: {text: side}}
        """;

    [Fact]
    public async Task Second_run_reuses_everything_and_plan_says_cached()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        var first = await h.RunAsync(p);
        Assert.Equal(RunState.Succeeded, first.State);
        Assert.All(first.Nodes, n => Assert.Equal(NodeState.Ran, n.State));
        Assert.Equal("abc\na x2 Plain [] cpu\nb x1 Plain [] cpu", await h.OutputAsync(p, "b"));

        var second = await h.RunAsync(p);
        Assert.Equal(first.Nodes.Count, second.Nodes.Count);
        Assert.All(second.Nodes, n => Assert.Equal(NodeState.Cached, n.State));
        Assert.All(await h.PlanAsync(p), e => Assert.Equal(PlanStatus.Cached, e.Status));
        var ledger = new EngineDocuments(h.Store);
        Assert.Equal(new[] { first.RunId, second.RunId }.Order(), (await ledger.ListRunsAsync()).Order());
        Assert.Equal(RunState.Succeeded, (await ledger.GetRunAsync(first.RunId))!.State);
    }

    [Fact]
    public async Task Plan_says_which_part_of_the_fingerprint_changed()
    {
        using var h = new EngineHarness();
        await h.RunAsync(h.Load(Chain));
        var plan = (await h.PlanAsync(h.Load(Chain, null, "a.factor=3"))).ToDictionary(e => e.Node.Id);
        Assert.Equal(PlanStatus.Cached, plan["data"].Status);
        Assert.Equal(PlanStatus.Stale, plan["a"].Status);
        Assert.Equal(["param factor: 2 → 3"], plan["a"].Reasons);
        Assert.Equal(["upstream a changed (input source)"], plan["b"].Reasons);
        Assert.Equal(PlanStatus.Cached, plan["side"].Status);

        h.UseTransformV2();
        Assert.Equal(["code version 1 → 2"], (await h.PlanAsync(h.Load(Chain))).Single(e => e.Node.Id == "a").Reasons);

        var cpu = h.Facts;
        h.Facts = cpu with { Values = new Dictionary<string, string>(cpu.Values) { ["device"] = "cuda" } };
        h.UseTransformV2();
        var gpu = (await h.PlanAsync(h.Load(Chain))).ToDictionary(e => e.Node.Id);
        Assert.Contains("environment device: cpu → cuda", gpu["a"].Reasons);
        Assert.Equal(PlanStatus.Cached, gpu["data"].Status);

        var fresh = (await h.PlanAsync(h.Load(Chain + "\n  extra: {kind: constant, params: {text: new}}\n"))).Single(e => e.Node.Id == "extra");
        Assert.Equal(PlanStatus.WillRun, fresh.Status);
        Assert.Equal(["never ran"], fresh.Reasons);
    }

    [Fact]
    public async Task Force_only_and_until_select_nodes()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        var until = await h.RunAsync(p, new RunOptions { Until = ["a"] });
        Assert.Equal(["data", "a"], until.Nodes.Select(n => n.NodeId));

        var onlyB = await h.RunAsync(p, new RunOptions { Only = ["b"] });
        Assert.Equal(["b"], onlyB.Nodes.Select(n => n.NodeId));
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(onlyB, "b"));

        var onlySide = await h.RunAsync(h.Load(Chain, null, "side.text=x", "a.factor=5"), new RunOptions { Only = ["b"] });
        Assert.Equal(NodeState.Failed, EngineHarness.StateOf(onlySide, "b"));
        Assert.Contains("input 'source': a (", onlySide.Nodes[0].Error);
        Assert.Contains("run it first", onlySide.Nodes[0].Error);

        var forced = await h.RunAsync(p, new RunOptions { Force = ["a"] });
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(forced, "a"));
        Assert.Equal(NodeState.Cached, EngineHarness.StateOf(forced, "data"));
        Assert.Equal(NodeState.Cached, EngineHarness.StateOf(forced, "b")); // same fingerprint ⇒ still valid
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(forced, "side"));
        Assert.Equal(["forced (--force)"], forced.Nodes.Single(n => n.NodeId == "a").Reasons);

        var all = await h.RunAsync(p, new RunOptions { Force = ["all"] });
        Assert.All(all.Nodes, n => Assert.Equal(NodeState.Ran, n.State));
        Assert.Throws<PipelineException>(() => Executor.Select(p, new RunOptions { Only = ["nope"] }));
    }

    [Fact]
    public async Task A_failed_node_leaves_no_output_and_skips_its_downstream()
    {
        using var h = new EngineHarness();
        var p = h.Load("""
            stages:
              bad: {kind: fail, params: {message: exploded}}
              after: {kind: transform, inputs: {source: bad}}
              ok: {kind: constant}
            """.Replace("kind: transform, inputs: {source: bad}", "kind: gather, inputs: {parts: [bad]}"));
        var run = await h.RunAsync(p);
        Assert.Equal(RunState.Failed, run.State);
        Assert.Equal(NodeState.Failed, EngineHarness.StateOf(run, "bad"));
        Assert.Contains("exploded", run.Nodes.Single(n => n.NodeId == "bad").Error);
        Assert.Equal(NodeState.Skipped, EngineHarness.StateOf(run, "after"));
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(run, "ok"));
        Assert.False((await h.Store.GetManifestAsync(h.Fingerprints(p)["bad"].Fingerprint)).Found);
        Assert.Empty(Directory.GetDirectories(Path.Combine(h.Store.Root, "staging")));
    }

    [Fact]
    public async Task Ctrl_c_interrupts_the_node_which_resumes_from_its_checkpoint()
    {
        using var h = new EngineHarness();
        var p = h.Load($"stages:\n  long: {{kind: count, params: {{steps: 400, delay_ms: 5, journal: '{h.Dir["journal"]}'}}}}\n");
        using var cts = new CancellationTokenSource();
        var observer = new CancelAfter(cts, 5);
        var run = await h.Executor(observer).RunAsync(p, new RunOptions(), cts.Token);
        Assert.Equal(RunState.Interrupted, run.State);
        Assert.Equal(NodeState.Interrupted, EngineHarness.StateOf(run, "long"));
        Assert.Equal(RunState.Interrupted, (await new EngineDocuments(h.Store).GetRunAsync(run.RunId))!.State);
        var fp = h.Fingerprints(p)["long"].Fingerprint;
        Assert.False((await h.Store.GetManifestAsync(fp)).Found);
        var saved = int.Parse(File.ReadAllText(Path.Combine(await h.Store.GetScratchDirectoryAsync(fp), CountStage.Checkpoint)));
        Assert.InRange(saved, 5, 399);

        var rerun = await h.RunAsync(p);
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(rerun, "long"));
        Assert.Equal($"steps=400 resumed_from={saved}", await h.OutputAsync(p, "long"));
        Assert.False(Directory.Exists(Path.Combine(h.Store.Root, "scratch", fp))); // scratch goes after the commit
    }

    [Fact]
    public async Task A_corrupt_or_missing_file_makes_the_output_absent_and_it_is_recomputed()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        await h.RunAsync(p);
        var fp = h.Fingerprints(p)["a"].Fingerprint;
        var file = Path.Combine(h.Store.ArtifactDirectory(fp), "files", "out.txt");

        File.AppendAllText(file, "!"); // size differs
        var plan = (await h.PlanAsync(p)).Single(e => e.Node.Id == "a");
        Assert.Equal(PlanStatus.WillRun, plan.Status);
        Assert.Contains("has", plan.Reasons[0]);
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(await h.RunAsync(p), "a"));

        var text = File.ReadAllText(file);
        File.WriteAllText(file, text.ToUpperInvariant()); // same size: only --verify sees it
        Assert.Equal(NodeState.Cached, EngineHarness.StateOf(await h.RunAsync(p), "a"));
        var verified = await h.RunAsync(p, new RunOptions { Verify = true });
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(verified, "a"));
        Assert.Equal(text, File.ReadAllText(file));

        File.Delete(file);
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(await h.RunAsync(p), "a"));
    }

    [Fact]
    public async Task Gc_keeps_referenced_and_pinned_artifacts()
    {
        using var h = new EngineHarness();
        var old = await h.RunAsync(h.Load(Chain, null, "side.text=old"));
        await h.RunAsync(h.Load(Chain, null, "side.text=older"));
        var current = h.Fingerprints(h.Load(Chain)).Values.Select(n => n.Fingerprint).ToHashSet();
        await h.RunAsync(h.Load(Chain));
        await new EngineDocuments(h.Store).SetPinsAsync([old.RunId]);
        var dry = await GarbageCollector.CollectAsync(h.Store, current, TimeSpan.Zero, dryRun: true);
        Assert.Single(dry.Deleted); // side=older: neither current nor pinned
        Assert.Equal("side", dry.Deleted[0].Info.NodeId);
        var real = await GarbageCollector.CollectAsync(h.Store, current, TimeSpan.Zero, dryRun: false);
        Assert.False((await h.Store.GetManifestAsync(real.Deleted[0].Fingerprint)).Found);
        Assert.Empty((await GarbageCollector.CollectAsync(h.Store, current, TimeSpan.FromHours(1), dryRun: false)).Deleted);
    }

    [Fact]
    public async Task Parallel_jobs_run_independent_nodes_and_keep_order_constraints()
    {
        using var h = new EngineHarness();
        var p = h.Load("""
            stages:
              data: {kind: constant}
              t:
                kind: transform
                inputs: {source: data}
                variants: {v1: {factor: 1}, v2: {factor: 2}, v3: {factor: 3}, v4: {factor: 4}}
              all: {kind: gather, inputs: {parts: "t[*]"}}
            """);
        var run = await h.RunAsync(p, new RunOptions { Jobs = 3 });
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(6, run.Nodes.Count);
        Assert.StartsWith("t[v1]=hello\nt[v1] x1", await h.OutputAsync(p, "all"));
        Assert.Equal("4", run.Nodes.Single(n => n.NodeId == "all").Summary!["parts"]);
    }

    [Fact]
    public async Task A_planned_node_survives_a_json_round_trip_and_runs_alone_as_a_distributed_worker_would()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        await h.RunAsync(p, new RunOptions { Until = ["data"] });
        var json = System.Text.Json.JsonSerializer.Serialize(h.Fingerprints(p)["a"], Fusion.Artifacts.Store.ManifestJson.Options);
        var shipped = System.Text.Json.JsonSerializer.Deserialize<Fusion.Workflow.Fingerprints.PlannedNode>(json, Fusion.Artifacts.Store.ManifestJson.Options)!;
        Assert.Equal(h.Fingerprints(p)["a"].Fingerprint, Fusion.Workflow.Fingerprints.Fingerprinter.Hash(shipped.Parts));

        var runner = new NodeRunner(h.Store, h.Registry, h.Facts, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var outcome = await runner.RunAsync(shipped, new NodeRunOptions(p.Name), CancellationToken.None);
        Assert.Equal(NodeState.Ran, outcome.State);
        Assert.Equal("abc\na x2 Plain [] cpu", await h.OutputAsync(p, "a"));
        Assert.Equal(NodeState.Cached, (await runner.RunAsync(shipped, new NodeRunOptions(p.Name), CancellationToken.None)).State);
    }

    private sealed class CancelAfter(CancellationTokenSource cts, long step) : IRunObserver
    {
        public void NodeProgress(Fusion.Workflow.Fingerprints.PlannedNode node, long current, long total, string unit)
        {
            if (current >= step) cts.Cancel();
        }
    }
}

using System.Text.Json;
using Fusion.Tests.Support;
using Fusion.Artifacts.Store.Local;
using Fusion.Worker.Distributed;
using Fusion.Worker.Engine;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Fusion.Tests.Worker;

/// <summary>
/// The Durable Task executor against Azurite with two worker processes: an engine pipeline's nodes spread across both
/// and its artifacts equal the in-process executor's; a killed worker's node is redone elsewhere, and nothing is ever
/// committed twice; and the same through the command line (`fusion submit` to `fusion worker --distributed`).
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DistributedExecutorTests(AzuriteHost azurite, ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);
    // Two workers balance the hub's partition leases when the second joins; on a loaded 2-core CI machine that, plus
    // Azurite's queue latency, has taken the first node past a minute, so the kill and SIGTERM tests wait longer before they judge.
    private static readonly TimeSpan PatientRunTimeout = TimeSpan.FromSeconds(240);

    private DistributedOptions Options(string hub) => new()
    {
        ConnectionString = azurite.ConnectionString, TaskHub = hub, PartitionCount = 2, MaxConcurrentNodes = 1,
        PollingInterval = TimeSpan.FromSeconds(1), NodeVisibilityTimeout = TimeSpan.FromSeconds(10),
        LeaseInterval = TimeSpan.FromSeconds(6), MaxAttempts = 3, FirstRetryDelay = TimeSpan.FromSeconds(1),
    };

    private static IEnumerable<string> Config(DistributedOptions o) =>
    [
        $"--Worker:Distributed:ConnectionString={o.ConnectionString}", $"--Worker:Distributed:TaskHub={o.TaskHub}",
        $"--Worker:Distributed:PartitionCount={o.PartitionCount}", $"--Worker:Distributed:MaxConcurrentNodes={o.MaxConcurrentNodes}",
        $"--Worker:Distributed:PollingInterval={o.PollingInterval}", $"--Worker:Distributed:NodeVisibilityTimeout={o.NodeVisibilityTimeout}",
        $"--Worker:Distributed:LeaseInterval={o.LeaseInterval}", "--Worker:ShutdownTimeout=00:00:45",
    ];

    private static DagNode Node(string id, params string[] deps) => new(id, "fp-" + id + "-0123456789abcdef", deps);

    [Fact]
    public async Task Two_worker_processes_share_an_engine_pipeline_and_commit_the_same_artifacts_as_the_in_process_executor()
    {
        using var dir = new TempDir();
        var registry = EchoStage.Registry();
        var facts = new FixedEnvironmentFacts(EnvironmentFacts.Of(("device", "cpu")));
        var pipeline = PipelineLoader.Parse(EchoStage.Pipeline, "echo.yaml", registry);
        var planned = Fingerprinter.Compute(pipeline, registry, facts.GetFacts());
        var dag = EngineDag.From("echo-2026-11-26", pipeline, planned);
        Assert.Equal(["data", "train[a]", "train[b]", "train[c]", "train[d]", "report"], dag.Nodes.Select(n => n.Id));

        // The in-process executor, on its own store.
        await using var localStore = new LocalArtifactStore(dir["local"]);
        var local = await new Executor(localStore, registry, facts, NullLoggerFactory.Instance).RunAsync(pipeline, new RunOptions { Jobs = 2 });
        Assert.Equal(Fusion.Workflow.Execution.RunState.Succeeded, local.State);

        // Two worker processes on one task hub, sharing another store.
        var options = Options("eng" + Guid.NewGuid().ToString("N")[..10]);
        using var w1 = new WorkerProcess("w1", dir["shared"], Config(options), "engine-worker");
        using var w2 = new WorkerProcess("w2", dir["shared"], Config(options), "engine-worker");
        await Task.WhenAll(w1.WaitJoinedAsync(TimeSpan.FromSeconds(90)), w2.WaitJoinedAsync(TimeSpan.FromSeconds(90)));
        await using var client = new DistributedRunClient(options, NullLoggerFactory.Instance);
        var result = await Run(client, dag, w1, w2);
        Assert.True(result.Succeeded, string.Join("; ", result.Failed.Select(f => $"{f.Key}: {f.Value}")));
        var workers = result.Completed.GroupBy(r => r.Worker).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine("nodes per worker: " + string.Join(", ", workers.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Equal(["w1", "w2"], workers.Keys.Order());

        // Same fingerprints, same bytes: every artifact equals the in-process executor's.
        await using var shared = new LocalArtifactStore(dir["shared"]);
        foreach (var node in dag.Nodes)
        {
            var mine = (await localStore.GetManifestAsync(node.Fingerprint, verifyHashes: true)).Manifest!;
            var theirs = (await shared.GetManifestAsync(node.Fingerprint, verifyHashes: true)).Manifest!;
            Assert.Equal(mine.Files, theirs.Files);
            Assert.Equal(EngineDag.OutputOf(mine), result.Completed.Single(r => r.NodeId == node.Id).Output);
        }
        Assert.StartsWith("report:report <- train[a]:a <- data:data", File.ReadAllText(await shared.GetLocalPathAsync(
            (await shared.GetManifestAsync(dag.Nodes[^1].Fingerprint)).Manifest!, "out.txt")));

        // Asking for the same run again attaches to the finished orchestration: same result, nothing recomputed.
        var again = await client.RunAsync(dag, RunTimeout, CancellationToken.None);
        Assert.Equal(result.Completed.Select(r => (r.NodeId, r.Output, r.Worker)), again.Completed.Select(r => (r.NodeId, r.Output, r.Worker)));
    }

    [Fact]
    public async Task A_node_of_a_killed_worker_is_redone_by_the_other_without_a_second_commit()
    {
        using var dir = new TempDir();
        var dag = new DagSpec("test-kill", [Node("prep"), Node("train", "prep"), Node("eval", "train")]);
        var root = Setup(dir["distributed"], new() { ["train"] = 60_000 });   // surely still running when killed
        var options = Options("kill" + Guid.NewGuid().ToString("N")[..10]);
        using var w1 = new WorkerProcess("w1", root, Config(options));
        using var w2 = new WorkerProcess("w2", root, Config(options));
        await Task.WhenAll(w1.WaitJoinedAsync(TimeSpan.FromSeconds(90)), w2.WaitJoinedAsync(TimeSpan.FromSeconds(90)));

        await using var client = new DistributedRunClient(options, NullLoggerFactory.Instance);
        var run = Run(client, dag, PatientRunTimeout, w1, w2);
        var started = Path.Combine(root, "started");
        string? marker = null;
        for (var deadline = DateTime.UtcNow.AddSeconds(180); marker is null; await Task.Delay(100))
        {
            marker = Directory.Exists(started) ? Directory.GetFiles(started, "train.*").FirstOrDefault() : null;
            if (marker is null && (DateTime.UtcNow > deadline || run.IsCompleted))
                Assert.Fail($"train never started ({(run.IsCompleted ? $"the run ended: {run.Status}" : "3 min passed")}; started: "
                    + $"[{string.Join(", ", Directory.Exists(started) ? Directory.GetFiles(started).Select(Path.GetFileName) : [])}])\n{Logs(w1, w2)}");
        }
        var pid = int.Parse(Path.GetExtension(marker)[1..]);
        var (victim, survivor) = pid == w1.Pid ? (w1, w2) : pid == w2.Pid ? (w2, w1) : throw new InvalidOperationException($"train started in unknown process {pid}");
        victim.Kill();
        Setup(root, new() { ["train"] = 300 });   // the redo (after the visibility timeout) finishes quickly
        output.WriteLine($"killed {victim.Name} (pid {pid}) in the middle of train");

        var result = await run;
        Assert.True(result.Succeeded, string.Join("; ", result.Failed.Select(f => $"{f.Key}: {f.Value}")));
        Assert.Equal(survivor.Name, result.Completed.Single(r => r.NodeId == "train").Worker);
        var trainAttempts = Directory.GetFiles(Path.Combine(root, "attempts"), "train.*").Select(f => f.Split('.')[^2]).ToList();
        Assert.Equal(2, trainAttempts.Count);
        Assert.Equal(new[] { $"{w1.Pid}", $"{w2.Pid}" }.Order(), trainAttempts.Order());

        var local = await LocalDagRunner.RunAsync(dag, new FileCommitExecutor(Setup(dir["local"], [])), "local", CancellationToken.None);
        Assert.Equal(local.Completed.Select(r => (r.NodeId, r.Output)), result.Completed.Select(r => (r.NodeId, r.Output)));
        AssertEachCommittedOnce(root, dag);
    }

    [Fact]
    public async Task A_worker_stopped_with_SIGTERM_checkpoints_its_node_and_hands_it_back()
    {
        using var dir = new TempDir();
        var dag = new DagSpec("test-sigterm", [Node("train"), Node("eval", "train")]);
        // train runs until stopped (60 s), so the SIGTERM surely lands mid-node however slow the machine is.
        var root = Setup(dir["distributed"], new() { ["train"] = 60_000 });
        var options = Options("term" + Guid.NewGuid().ToString("N")[..10]);
        using var w1 = new WorkerProcess("w1", root, Config(options));
        await w1.WaitJoinedAsync(TimeSpan.FromSeconds(90));
        await using var client = new DistributedRunClient(options, NullLoggerFactory.Instance);
        var run = Run(client, dag, PatientRunTimeout, w1);
        for (var deadline = DateTime.UtcNow.AddSeconds(180); !File.Exists(Path.Combine(root, "started", $"train.{w1.Pid}")); await Task.Delay(100))
            if (DateTime.UtcNow > deadline || run.IsCompleted)
                Assert.Fail($"train never started ({(run.IsCompleted ? $"the run ended: {run.Status}" : "3 min passed")})\n{Logs(w1)}");

        Assert.Equal(0, await w1.TerminateAsync(TimeSpan.FromSeconds(60)));
        Assert.True(File.Exists(Path.Combine(root, "checkpoints", $"train.{w1.Pid}")), "the cancelled node did not checkpoint");
        Assert.False(run.IsCompleted);

        Setup(root, new() { ["train"] = 300 });   // the resumed node finishes quickly
        using var w2 = new WorkerProcess("w2", root, Config(options));
        var result = await run;
        Assert.True(result.Succeeded, string.Join("; ", result.Failed.Select(f => $"{f.Key}: {f.Value}")));
        Assert.Equal("w2", result.Completed.Single(r => r.NodeId == "train").Worker);
        AssertEachCommittedOnce(root, dag);
    }

    [Fact]
    public async Task Fusion_submit_runs_a_pipeline_on_two_fusion_worker_processes_and_records_it_in_the_ledger()
    {
        using var dir = new TempDir();
        var pipelineFile = dir["echo.yaml"];
        await File.WriteAllTextAsync(pipelineFile, EchoStage.Pipeline);
        var options = Options("cli" + Guid.NewGuid().ToString("N")[..10]);
        using var w1 = WorkerProcess.Cli("w1", dir["store"], Config(options));
        using var w2 = WorkerProcess.Cli("w2", dir["store"], Config(options));
        await Task.WhenAll(w1.WaitJoinedAsync(TimeSpan.FromSeconds(90)), w2.WaitJoinedAsync(TimeSpan.FromSeconds(90)));

        async Task<RunRecord> SubmitAsync(string runId)
        {
            var (code, text) = await FusionCli.RunAsync(["submit", pipelineFile, "--store", dir["store"], "--plugin", typeof(EchoStage).Assembly.Location,
                "--device", "cpu", "--run-id", runId, .. Config(options)], PatientRunTimeout);
            Assert.True(code == 0, $"fusion submit exited {code}:\n{text}\n--- w1:\n{string.Join('\n', w1.Log)}\n--- w2:\n{string.Join('\n', w2.Log)}");
            Assert.Contains($"run {runId}", text);
            await using var store = new LocalArtifactStore(dir["store"]);
            return (await new EngineDocuments(store).GetRunAsync(runId))!;
        }

        var first = await SubmitAsync("echo-cli-1");
        Assert.Equal(Fusion.Workflow.Execution.RunState.Succeeded, first.State);
        Assert.Equal(["data", "report", "train[a]", "train[b]", "train[c]", "train[d]"], first.Nodes.Select(n => n.NodeId).Order());
        Assert.All(first.Nodes, n => Assert.Equal(NodeState.Ran, n.State));
        var workers = first.Nodes.SelectMany(n => n.Reasons ?? []).Distinct().Order().ToList();
        output.WriteLine("nodes ran " + string.Join(", ", workers));
        Assert.Equal(["on w1", "on w2"], workers);

        // The same pipeline again: every node is reused from the shared store.
        var second = await SubmitAsync("echo-cli-2");
        Assert.Equal(first.Nodes.Count, second.Nodes.Count);
        Assert.All(second.Nodes, n => Assert.Equal(NodeState.Cached, n.State));
    }

    [Fact]
    public async Task Fusion_submit_until_decided_adds_seeds_on_the_workers_until_the_claims_are_decided()
    {
        using var dir = new TempDir();
        var pipelineFile = dir["claims.yaml"];
        await File.WriteAllTextAsync(pipelineFile, Fusion.Tests.Seeds.ClaimMeasureStage.Pipeline(effect: 10, noise: 0.5));
        var options = Options("seq" + Guid.NewGuid().ToString("N")[..10]);
        using var w1 = WorkerProcess.Cli("w1", dir["store"], Config(options));
        await w1.WaitJoinedAsync(TimeSpan.FromSeconds(90));
        var (code, text) = await FusionCli.RunAsync(["submit", pipelineFile, "--store", dir["store"], "--plugin", typeof(EchoStage).Assembly.Location,
            "--device", "cpu", "--run-id", "claims", "--until-decided", "--max-seeds", "6", .. Config(options)], PatientRunTimeout);
        Assert.True(code == 0, $"fusion submit exited {code}:\n{text}\n--- w1:\n{string.Join('\n', w1.Log)}");
        var stopped = System.Text.RegularExpressions.Regex.Match(text, @"stopped after (\d) seeds: every headline quality claim is decided");
        Assert.True(stopped.Success, text);
        // Each look is a run of its own on the hub, in the ledger; the last one's report decided the paper's pair.
        await using var store = new LocalArtifactStore(dir["store"]);
        var last = (await new EngineDocuments(store).GetRunAsync($"claims-seeds{stopped.Groups[1].Value}"))!;
        var report = last.Nodes.Single(n => n.NodeId == "report");
        var manifest = (await store.GetManifestAsync(report.Fingerprint)).Manifest!;
        Assert.Equal("supported", manifest.Info.Summary!["Higher CLIP Score [intermediate-cross vs early-concat (the paper's model)]"]);
        Assert.NotNull(await new EngineDocuments(store).GetRunAsync("claims-seeds1"));
    }

    private Task<RunResult> Run(DistributedRunClient client, DagSpec dag, params WorkerProcess[] workers) => Run(client, dag, RunTimeout, workers);

    private async Task<RunResult> Run(DistributedRunClient client, DagSpec dag, TimeSpan timeout, params WorkerProcess[] workers)
    {
        try { return await client.RunAsync(dag, timeout, CancellationToken.None); }
        catch
        {
            output.WriteLine(Logs(workers));
            throw;
        }
    }

    private static string Logs(params WorkerProcess[] workers) =>
        string.Join('\n', workers.Select(w => $"--- {w.Name}{(w.HasExited ? " (exited)" : "")}:\n{string.Join('\n', w.Log)}"));

    private static string Setup(string root, Dictionary<string, int> delays)
    {
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "delays.json"), JsonSerializer.Serialize(delays));
        return root;
    }

    /// <summary>One commit per node, by exactly one process (the executor logs only commits it won).</summary>
    private static void AssertEachCommittedOnce(string root, DagSpec dag)
    {
        var commits = Directory.GetFiles(Path.Combine(root, "commits")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(dag.Nodes.Select(n => n.Fingerprint).Order(), commits);
        var log = Directory.GetFiles(Path.Combine(root, "commit-log")).Select(f => Path.GetFileName(f)!.Split('.')[0]).ToList();
        Assert.Equal(dag.Nodes.Select(n => n.Fingerprint).Order(), log.Order());
    }
}

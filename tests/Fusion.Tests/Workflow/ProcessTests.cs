using System.Diagnostics;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;

namespace Fusion.Tests.Workflow;

/// <summary>The `fusion` executable as a child process, with the test stage kinds loaded through --plugin.</summary>
public sealed class ProcessTests
{
    private static readonly string Plugin = typeof(CountStage).Assembly.Location;

    private static Process Start(string workDir, params string[] args)
    {
        string[] engine = args[0] is "run" or "plan" ? ["--plugin", Plugin, "--device", "cpu"] : [];
        return FusionCli.Start(args.Concat(engine), workDir);
    }

    private static Task<(int Code, string Output)> FinishAsync(Process process, TimeSpan timeout) => FusionCli.FinishAsync(process, timeout);

    private static string CountPipeline(TempDir dir, int steps, int delayMs) =>
        WriteFile(dir["count.yaml"], $"stages:\n  long:\n    kind: count\n    params: {{steps: {steps}, delay_ms: {delayMs}, journal: '{dir["journal"]}'}}\n");

    private static string WriteFile(string path, string text)
    {
        File.WriteAllText(path, text);
        return path;
    }

    private static int AttemptCount(TempDir dir) =>
        File.Exists(dir["journal/attempts.txt"]) ? File.ReadAllLines(dir["journal/attempts.txt"]).Length : 0;

    [Fact]
    public async Task Kill_9_mid_node_leaves_no_artifact_and_the_rerun_resumes_from_the_checkpoint()
    {
        using var dir = new TempDir();
        var pipeline = CountPipeline(dir, steps: 60, delayMs: 100);
        var store = new LocalArtifactStore(dir["store"]);
        var child = Start(dir.Path, "run", pipeline, "--store", dir["store"]);
        var scratch = Path.Combine(dir["store"], "scratch");
        var checkpointed = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (checkpointed < 5)
        {
            Assert.True(DateTime.UtcNow < deadline, "the child never checkpointed");
            Assert.False(child.HasExited, "the child ended early");
            Assert.Empty(await ListAsync(store)); // never a visible artifact while the node runs
            var file = Directory.Exists(scratch) ? Directory.EnumerateFiles(scratch, CountStage.Checkpoint, SearchOption.AllDirectories).FirstOrDefault() : null;
            if (file is not null && int.TryParse(SafeRead(file), out var step)) checkpointed = step;
            await Task.Delay(50);
        }
        child.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
        await child.WaitForExitAsync();
        Assert.Empty(await ListAsync(store));

        var (code, output) = await FinishAsync(Start(dir.Path, "run", pipeline, "--store", dir["store"]), TimeSpan.FromSeconds(90));
        Assert.True(code == 0, output);
        var fp = Assert.Single(await ListAsync(store));
        var manifest = (await store.GetManifestAsync(fp)).Manifest!;
        var text = File.ReadAllText(await store.GetLocalPathAsync(manifest, "out.txt"));
        var resumedFrom = int.Parse(text.Split("resumed_from=")[1]);
        Assert.True(resumedFrom >= checkpointed, $"resumed from {resumedFrom}, the killed run had reached {checkpointed}");
        Assert.Equal(2, AttemptCount(dir));
        Assert.Equal(resumedFrom.ToString(), manifest.Info.Summary!["resumed_from"]);
    }

    [Fact]
    public async Task Sigterm_stops_the_node_gracefully_records_interrupted_and_the_next_run_resumes()
    {
        using var dir = new TempDir();
        var pipeline = CountPipeline(dir, steps: 200, delayMs: 50);
        var child = Start(dir.Path, "run", pipeline, "--store", dir["store"]);
        var scratch = Path.Combine(dir["store"], "scratch");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(Directory.Exists(scratch) && Directory.EnumerateFiles(scratch, CountStage.Checkpoint, SearchOption.AllDirectories).Any()))
        {
            Assert.True(DateTime.UtcNow < deadline && !child.HasExited, "the child never checkpointed");
            await Task.Delay(50);
        }
        using (var kill = Process.Start("kill", ["-TERM", child.Id.ToString()])) await kill.WaitForExitAsync();
        var (code, output) = await FinishAsync(child, TimeSpan.FromSeconds(60));
        Assert.True(code == 130, output);
        Assert.Contains("interrupted", output);
        var checkpoint = int.Parse(File.ReadAllText(Directory.EnumerateFiles(scratch, CountStage.Checkpoint, SearchOption.AllDirectories).Single()));

        var ledger = new Fusion.Workflow.Execution.EngineDocuments(new LocalArtifactStore(dir["store"]));
        var interrupted = (await ledger.FindRunAsync(null))!;
        Assert.Equal(Fusion.Workflow.Execution.RunState.Interrupted, interrupted.State);
        Assert.Equal(Fusion.Workflow.Execution.NodeState.Interrupted, interrupted.Nodes.Single().State);

        var rerun = await FinishAsync(Start(dir.Path, "run", pipeline, "--store", dir["store"]), TimeSpan.FromSeconds(90));
        Assert.True(rerun.Code == 0, rerun.Output);
        Assert.Contains($"resumed_from={checkpoint}", rerun.Output); // the ledger summary shows it
    }

    [Fact]
    public async Task Two_concurrent_runs_on_one_store_compute_once_and_both_succeed()
    {
        using var dir = new TempDir();
        var gate = dir["gate"];
        var pipeline = WriteFile(dir["count.yaml"], $"stages:\n  long:\n    kind: count\n    params: {{steps: 5, journal: '{dir["journal"]}', gate: '{gate}'}}\n");
        var first = Start(dir.Path, "run", pipeline, "--store", dir["store"]);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (AttemptCount(dir) == 0) // the first one holds the claim and waits at its gate
        {
            Assert.True(DateTime.UtcNow < deadline && !first.HasExited, "the first run never started its node");
            await Task.Delay(50);
        }
        var second = Start(dir.Path, "run", pipeline, "--store", dir["store"]);
        var secondOutput = new System.Text.StringBuilder();
        string? line;
        while ((line = await second.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null)
        {
            secondOutput.AppendLine(line);
            if (line.Contains("another run is computing it")) break; // it is waiting for the claim
        }
        Assert.True(line is not null, "the second run never waited: " + secondOutput);
        Assert.Contains($"(held by pid {first.Id} on host {Environment.MachineName} since ", line);
        File.WriteAllText(gate, "go");
        var results = await Task.WhenAll(FinishAsync(first, TimeSpan.FromSeconds(90)), FinishAsync(second, TimeSpan.FromSeconds(90)));
        Assert.True(results[0].Code == 0, results[0].Output);
        Assert.True(results[1].Code == 0, secondOutput + results[1].Output);
        Assert.Equal(1, AttemptCount(dir));
        Assert.Contains("reused (computed by another run)", results[1].Output);

        var ledger = new Fusion.Workflow.Execution.EngineDocuments(new LocalArtifactStore(dir["store"]));
        var states = new List<Fusion.Workflow.Execution.NodeState>();
        foreach (var id in await ledger.ListRunsAsync()) states.Add((await ledger.GetRunAsync(id))!.Nodes.Single().State);
        Assert.Equal([Fusion.Workflow.Execution.NodeState.Cached, Fusion.Workflow.Execution.NodeState.Ran], states.Order());
    }

    [Fact]
    public async Task Cli_plan_explains_and_config_errors_exit_2_with_file_line_and_key()
    {
        using var dir = new TempDir();
        var pipeline = WriteFile(dir["p.yaml"], "stages:\n  a: {kind: constant, params: {text: x}}\n  b: {kind: transform, inputs: {source: a}}\n");
        var run = await FinishAsync(Start(dir.Path, "run", pipeline), TimeSpan.FromSeconds(60));
        Assert.True(run.Code == 0, run.Output);
        Assert.True(Directory.Exists(dir[".fusion/artifacts"])); // default store: .fusion/ in the working directory

        var plan = await FinishAsync(Start(dir.Path, "plan", pipeline, "-p", "a.text=y"), TimeSpan.FromSeconds(60));
        Assert.True(plan.Code == 0, plan.Output);
        Assert.Contains("param text: \"x\" → \"y\"", plan.Output);
        Assert.Contains("upstream a changed (input source)", plan.Output);

        var status = await FinishAsync(Start(dir.Path, "status"), TimeSpan.FromSeconds(60));
        Assert.True(status.Code == 0, status.Output);
        Assert.Contains("succeeded", status.Output);

        var bad = await FinishAsync(Start(dir.Path, "plan", pipeline, "-p", "b.factor=big"), TimeSpan.FromSeconds(60));
        Assert.Equal(2, bad.Code);
        Assert.Contains("-p b.factor: param 'factor' of kind 'transform': expected a number, got 'big'", bad.Output);

    }

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); } catch (IOException) { return ""; }
    }

    private static async Task<List<string>> ListAsync(LocalArtifactStore store)
    {
        var list = new List<string>();
        await foreach (var fp in store.ListArtifactsAsync()) list.Add(fp);
        return list;
    }
}

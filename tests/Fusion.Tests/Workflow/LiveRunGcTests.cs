using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Workflow;

/// <summary>
/// gc beside a run in progress (issue 13): the run's artifacts are protected only by its live claim (no plan names
/// them, the grace period is 0), so each test fails if gc ignores live runs; a killed run stops protecting.
/// </summary>
public static class LiveRunScenario
{
    public static readonly IReadOnlySet<string> NoPlans = new HashSet<string>();

    /// <summary>data is committed, then long waits at its gate while after still needs data.</summary>
    public static string Pipeline(TempDir dir) => $$$"""
        stages:
          data: {kind: constant, params: {text: live}}
          long: {kind: count, params: {steps: 3, journal: '{{{dir["journal"]}}}', gate: '{{{dir["gate"]}}}'}}
          after: {kind: gather, inputs: {parts: [data, long]}}
        """;

    /// <summary>Waits (generously: the machine may be loaded) until the count node has started.</summary>
    public static async Task WaitForLongAsync(TempDir dir, Func<bool> failed)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!File.Exists(dir["journal/attempts.txt"]))
        {
            Assert.True(DateTime.UtcNow < deadline && !failed(), "the long node never started");
            await Task.Delay(50);
        }
    }

    /// <summary>Runs the pipeline in process against <paramref name="store"/>, collects with grace 0 while it waits,
    /// lets it finish, and checks that it succeeded with data intact and that afterwards nothing protects it.</summary>
    public static async Task GcBesideALiveRunAsync(EngineHarness h, IArtifactStore store)
    {
        var p = h.Load(Pipeline(h.Dir));
        var data = h.Fingerprints(p)["data"].Fingerprint;
        var executor = new Executor(store, h.Registry, new Fusion.Workflow.Stages.FixedEnvironmentFacts(h.Facts), NullLoggerFactory.Instance);
        var running = executor.RunAsync(p, new RunOptions());
        await WaitForLongAsync(h.Dir, () => running.IsCompleted);

        var report = await GarbageCollector.CollectAsync(store, NoPlans, TimeSpan.Zero, dryRun: false);
        Assert.Empty(report.Deleted);
        Assert.Empty(report.HeldBack);
        var live = Assert.Single(report.LiveRuns);
        Assert.Contains(data, live.Fingerprints);
        Assert.True((await store.GetManifestAsync(data)).Found, "gc deleted an input of the live run");

        File.WriteAllText(h.Dir["gate"], "go");
        var run = await running.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(run.State == RunState.Succeeded, string.Join("; ", run.Nodes.Select(n => $"{n.NodeId} {n.State} {n.Error}")));
        Assert.Equal(live.RunId, run.RunId);

        // The finished run withdrew its claim: it protects nothing now and is not mistaken for a crashed one.
        var after = await GarbageCollector.CollectAsync(store, NoPlans, TimeSpan.Zero, dryRun: false);
        Assert.Empty(after.LiveRuns);
        Assert.Empty(after.ExpiredRuns);
        Assert.Equal(["after", "data", "long"], after.Deleted.Select(m => m.Info.NodeId).Order());
    }
}

public sealed class LiveRunGcTests
{
    private static readonly string Plugin = typeof(CountStage).Assembly.Location;

    [Fact]
    public async Task Gc_with_no_grace_keeps_what_a_live_run_needs_on_the_local_store()
    {
        using var h = new EngineHarness();
        await LiveRunScenario.GcBesideALiveRunAsync(h, h.Store);
    }

    /// <summary>
    /// A run registers under the gate gc holds while it decides and deletes, before any node looks at the store: a run
    /// that starts during a collection waits for it, then works from what is left (it recomputes what gc took).
    /// </summary>
    [Fact]
    public async Task A_run_that_starts_while_gc_collects_waits_for_it_and_recomputes_what_it_deleted()
    {
        using var h = new EngineHarness();
        var p = h.Load("""
            stages:
              data: {kind: constant, params: {text: gated}}
              after: {kind: gather, inputs: {parts: [data]}}
            """);
        Assert.Equal(RunState.Succeeded, (await h.RunAsync(p)).State);
        var data = h.Fingerprints(p)["data"].Fingerprint;

        Task<RunRecord> starting;
        await using (await LiveRuns.LockForGcAsync(h.Store))
        {
            starting = h.RunAsync(p, new RunOptions { Force = ["after"] });
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.False(starting.IsCompleted, "the run did not wait for the collection");
            await foreach (var document in h.Store.ListDocumentsAsync(LiveRuns.Folder))
                Assert.Fail($"the run registered while gc held the gate: {document}");
            await h.Store.DeleteArtifactAsync(data); // what gc decided to delete
        }
        var run = await starting.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(run.State == RunState.Succeeded, string.Join("; ", run.Nodes.Select(n => $"{n.NodeId} {n.State} {n.Error}")));
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(run, "data"));
        Assert.Equal(NodeState.Ran, EngineHarness.StateOf(run, "after"));
        Assert.True((await h.Store.GetManifestAsync(data)).Found);
    }

    [Fact]
    public async Task A_killed_runs_claim_dies_with_it_and_no_longer_protects()
    {
        using var dir = new TempDir();
        var pipeline = dir["live.yaml"];
        File.WriteAllText(pipeline, LiveRunScenario.Pipeline(dir)); // the gate never opens
        Directory.CreateDirectory(dir["no-pipelines"]);
        // One node at a time, so data is committed before long starts (by default the two would run side by side).
        var child = FusionCli.Start(["run", pipeline, "--store", dir["store"], "--plugin", Plugin, "--device", "cpu", "--jobs", "1"], dir.Path);
        try
        {
            await LiveRunScenario.WaitForLongAsync(dir, () => child.HasExited);
            var (code, output) = await FusionCli.RunAsync(["gc", "--dry-run", "--grace-hours", "0", "--pipelines", dir["no-pipelines"], "--store", dir["store"], "--device", "cpu"],
                TimeSpan.FromMinutes(2), dir.Path);
            Assert.True(code == 0, output);
            Assert.Contains("is live", output);
            Assert.Contains("would free 0 B in 0 artifacts", output);
        }
        finally
        {
            child.Kill(entireProcessTree: true); // SIGKILL: the run cannot withdraw its claim
            await child.WaitForExitAsync();
        }

        var store = new LocalArtifactStore(dir["store"]);
        var report = await GarbageCollector.CollectAsync(store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false);
        Assert.Empty(report.LiveRuns);
        Assert.Single(report.ExpiredRuns);
        Assert.Equal("data", Assert.Single(report.Deleted).Info.NodeId);
        Assert.Empty(store.ListScratch()); // the killed node's checkpoint folder went too: nothing will resume it
        var again = await GarbageCollector.CollectAsync(store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false);
        Assert.Empty(again.ExpiredRuns); // its document was removed
    }

    [Fact]
    public async Task A_pin_whose_run_document_is_gone_is_reported_and_nothing_is_collected()
    {
        using var h = new EngineHarness();
        var pinned = await h.RunAsync(h.Load("stages:\n  a: {kind: constant, params: {text: pinned}}\n"));
        await h.RunAsync(h.Load("stages:\n  a: {kind: constant, params: {text: other}}\n"));
        var documents = new EngineDocuments(h.Store);
        await documents.SetPinsAsync([pinned.RunId]);
        await h.Store.DeleteDocumentAsync(EngineDocuments.RunPath(pinned.RunId));

        var report = await GarbageCollector.CollectAsync(h.Store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false);
        Assert.Empty(report.Deleted);
        Assert.Contains(pinned.RunId, Assert.Single(report.HeldBack));
        Assert.Equal(2, (await ListAsync(h.Store)).Count);

        // The CLI says so, fails, and lets the pin go by its id; then gc collects again.
        string[] store = ["--store", h.Store.Root];
        var noPipelines = Directory.CreateDirectory(h.Dir["no-pipelines"]).FullName;
        var (code, output) = await FusionCli.RunAsync(["gc", "--grace-hours", "0", "--pipelines", noPipelines, "--device", "cpu", .. store], TimeSpan.FromMinutes(2), h.Dir.Path);
        Assert.True(code == 1, output);
        Assert.Contains($"{pinned.RunId}: its run document", output);
        Assert.Contains("gc deleted nothing", output);
        var unpin = await FusionCli.RunAsync(["unpin", pinned.RunId, .. store], TimeSpan.FromMinutes(1), h.Dir.Path);
        Assert.True(unpin.Code == 0, unpin.Output);
        Assert.Empty(await documents.GetPinsAsync());
        Assert.Equal(2, (await GarbageCollector.CollectAsync(h.Store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false)).Deleted.Count);
    }

    private static async Task<List<string>> ListAsync(IArtifactStore store)
    {
        var all = new List<string>();
        await foreach (var fp in store.ListArtifactsAsync()) all.Add(fp);
        return all;
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class LiveRunGcAzuriteTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string _container = AzuriteFixture.NewContainer();
    private readonly TempDir _temp = new();

    private string Location => $"azure://{AzuriteProcess.Account}/{_container}";

    private Task<BlobArtifactStore> OpenAsync() =>
        BlobArtifactStore.OpenAsync(Location, BlobCredential.FromConnectionString(azurite.ConnectionString),
            new BlobStoreOptions { WorkDirectory = _temp["work"], CacheDirectory = _temp["cache"], LeaseDuration = TimeSpan.FromSeconds(15) });

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Gc_with_no_grace_keeps_what_a_live_run_needs_on_azurite()
    {
        using var h = new EngineHarness();
        await using var store = await OpenAsync();
        await LiveRunScenario.GcBesideALiveRunAsync(h, store);
    }

    [Fact]
    public async Task A_killed_runs_lease_expires_and_no_longer_protects_on_azurite()
    {
        await using var store = await OpenAsync();
        var pipeline = _temp["live.yaml"];
        File.WriteAllText(pipeline, LiveRunScenario.Pipeline(_temp));
        var environment = new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.ConnectionString, ["HOME"] = _temp["home"] };
        // One node at a time, so data is committed before long starts (by default the two would run side by side).
        using var child = FusionCli.Start(["run", pipeline, "--store", Location, "--plugin", typeof(CountStage).Assembly.Location, "--device", "cpu", "--jobs", "1"], _temp.Path, environment);
        try
        {
            await LiveRunScenario.WaitForLongAsync(_temp, () => child.HasExited);
            var live = await GarbageCollector.CollectAsync(store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false);
            Assert.Single(live.LiveRuns);
            Assert.Empty(live.Deleted);
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        // Its lease (30 s, the CLI's default) is no longer renewed: until it lapses the run still counts as live.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        GcReport report;
        while ((report = await GarbageCollector.CollectAsync(store, LiveRunScenario.NoPlans, TimeSpan.Zero, dryRun: false)).LiveRuns.Count > 0)
        {
            Assert.Empty(report.Deleted);
            Assert.True(DateTime.UtcNow < deadline, "the killed run's lease never expired");
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
        Assert.Single(report.ExpiredRuns);
        Assert.Equal("data", Assert.Single(report.Deleted).Info.NodeId);
    }
}

using System.Collections.Concurrent;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Workflow;

/// <summary>
/// `--devices`: concurrent torch nodes lease distinct slots of the device pool, nodes beyond the free slots wait, the
/// ledger records each node's slot, non-torch nodes take none, and placement never changes a fingerprint.
/// </summary>
public sealed class DevicePlacementTests : IDisposable
{
    // Generous: the full suite runs beside this test on 2 cores, and a node can wait long for its first time slice.
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);
    private readonly EngineHarness h = new();
    private readonly RecordingCompute compute = new();

    public DevicePlacementTests() => h.Registry.UseCompute(compute);

    /// <summary>The torch runtime's threads, with the thread counts nodes set recorded instead of applied.</summary>
    private sealed class RecordingCompute : IComputeRuntime
    {
        public ConcurrentQueue<(string? Thread, int Threads)> Applied { get; } = new();
        public IComputeThread StartThread(string name) => new TorchCompute().StartThread(name);
        public void SetThreads(int threads) => Applied.Enqueue((Thread.CurrentThread.Name, threads));
    }

    // Two torch nodes (count: no EnvironmentDependencies) held at their first step until the gate file exists, and a
    // node without torch (constant).
    private Pipeline TwoGated(string gate) => h.Load(
        $"stages:\n  c: {{kind: constant}}\n  a: {{kind: count, params: {{steps: 2, gate: '{gate}'}}}}\n  b: {{kind: count, params: {{steps: 2, gate: '{gate}', delay_ms: 1}}}}\n");

    private Executor Executor(DevicePool pool, Recorder observer) =>
        new(h.Store, h.Registry, new FixedEnvironmentFacts(h.Facts), NullLoggerFactory.Instance, observer, pool);

    [Fact]
    public async Task Two_jobs_on_cpu_cpu_run_two_torch_nodes_at_once_on_distinct_slots_and_the_ledger_records_them()
    {
        var gate = h.Dir["gate"];
        var observer = new Recorder();
        var running = Executor(DevicePool.Parse("cpu,cpu", "cpu", 0), observer).RunAsync(TwoGated(gate), new RunOptions { Jobs = 2 });

        // Both torch nodes start while the gate holds them: they run at the same time.
        await observer.WaitAsync(() => observer.Started.Count(n => n is "a" or "b") == 2, running);
        Assert.Equal(["cpu:0", "cpu:1"], observer.Placed.Values.Order());
        File.WriteAllText(gate, "");
        var run = await running;

        Assert.Equal(RunState.Succeeded, run.State);
        var ledger = (await new EngineDocuments(h.Store).GetRunAsync(run.RunId))!;
        var devices = ledger.Nodes.ToDictionary(n => n.NodeId, n => n.Device);
        Assert.Equal(["cpu:0", "cpu:1"], new[] { devices["a"], devices["b"] }.Order());
        Assert.Null(devices["c"]);   // no torch, no device
        // Each torch node ran on its slot's own thread from start to end, awaits included (one OpenMP team per slot).
        var threads = ledger.Nodes.Where(n => n.NodeId is "a" or "b").Select(n => n.Summary!["threads"]).Order().ToList();
        Assert.Equal(["fusion cpu:0 #0", "fusion cpu:1 #1"], threads);
    }

    [Fact]
    public async Task More_jobs_than_devices_wait_for_a_free_device()
    {
        var gate = h.Dir["gate"];
        var observer = new Recorder();
        var running = Executor(DevicePool.Parse("cpu", "cpu", 0), observer).RunAsync(TwoGated(gate), new RunOptions { Jobs = 3 });

        await observer.WaitAsync(() => observer.Waiting.Any(w => w.Why.Contains("waiting for a free device")) && observer.Started.Any(n => n is "a" or "b"), running);
        var first = observer.Started.Single(n => n is "a" or "b");
        var second = first == "a" ? "b" : "a";
        Assert.Contains(observer.Waiting, w => w.Node == second);
        File.WriteAllText(gate, "");
        var run = await running;

        Assert.Equal(RunState.Succeeded, run.State);
        // The second torch node started only once the first had given the device back.
        Assert.True(EventAt(observer.Events, $"finished {first}") < EventAt(observer.Events, $"started {second}"), string.Join(", ", observer.Events));
        Assert.All(run.Nodes.Where(n => n.NodeId != "c"), n => Assert.Equal("cpu:0", n.Device));
    }

    [Fact]
    public async Task A_node_computes_on_its_gpu_while_its_fingerprint_keeps_the_device_type()
    {
        // No GPU needed: transform writes the device its context names, and never touches torch.
        h.Facts = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cuda"), ("dtype", "float32"));
        var pipeline = h.Load("stages:\n  c: {kind: constant}\n  t: {kind: transform, inputs: {source: c}}\n");
        var pool = new DevicePool([new DeviceSlot("cuda:3", "cuda:3")]);
        var run = await Executor(pool, new Recorder()).RunAsync(pipeline, new RunOptions());

        Assert.Equal(RunState.Succeeded, run.State);
        Assert.EndsWith(" cuda:3", await h.OutputAsync(pipeline, "t"));
        var node = h.Fingerprints(pipeline)["t"];
        Assert.Equal("cuda", node.Parts["env.device"]);
        Assert.Equal(node.Fingerprint, run.Nodes.Single(n => n.NodeId == "t").Fingerprint);
        Assert.Equal("cuda:3", run.Nodes.Single(n => n.NodeId == "t").Device);
    }

    [Fact]
    public async Task A_worker_places_its_concurrent_nodes_on_distinct_devices_and_reports_them()
    {
        var (gate, journal) = (h.Dir["gate"], h.Dir["journal"]);
        var pipeline = h.Load($"stages:\n  c: {{kind: constant}}\n  a: {{kind: count, params: {{steps: 2, gate: '{gate}', journal: '{journal}'}}}}\n" +
                              $"  b: {{kind: count, params: {{steps: 2, gate: '{gate}', journal: '{journal}', delay_ms: 1}}}}\n");
        var executor = new Fusion.Worker.Engine.EngineNodeExecutor(h.Store, h.Registry, new FixedEnvironmentFacts(h.Facts), NullLoggerFactory.Instance, DevicePool.Parse("cpu,cpu", "cpu", 0));
        var dag = Fusion.Worker.Engine.EngineDag.From("w-run", pipeline, h.Fingerprints(pipeline));
        var running = Fusion.Worker.Distributed.LocalDagRunner.RunAsync(dag, executor, "worker-1", CancellationToken.None);

        // Both torch nodes are inside their stage (each wrote its journal line) while the gate holds them.
        var attempts = Path.Combine(journal, "attempts.txt");
        await new Recorder().WaitAsync(() => File.Exists(attempts) && File.ReadAllLines(attempts).Length == 2, running);
        File.WriteAllText(gate, "");
        var result = await running;

        Assert.True(result.Succeeded);
        var devices = result.Completed.ToDictionary(r => r.NodeId, r => r.Device);
        Assert.Equal(["cpu:0", "cpu:1"], new[] { devices["a"], devices["b"] }.Order());
        Assert.Null(devices["c"]);
    }

    [Fact]
    public async Task Nodes_that_declare_one_thread_share_the_cores_side_by_side_and_a_node_on_every_core_runs_alone()
    {
        h.Facts = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"), ("threads", "2"));
        var gate = h.Dir["gate"];
        var pipeline = h.Load($"stages:\n  a: {{kind: count, params: {{steps: 2, gate: '{gate}', threads: 1}}}}\n" +
                              $"  b: {{kind: count, params: {{steps: 2, gate: '{gate}', threads: 1, delay_ms: 1}}}}\n" +
                              "  w: {kind: count, params: {steps: 1}}\n");
        var applied = compute.Applied;
        var pool = new DevicePool([new("cpu:0", "cpu"), new("cpu:1", "cpu"), new("cpu:2", "cpu")], cores: 2);
        var observer = new Recorder();
        var running = Executor(pool, observer).RunAsync(pipeline, new RunOptions { Jobs = 3 });

        // The two one-thread nodes run at the same time (both started while the gate holds them) ...
        await observer.WaitAsync(() => observer.Started.Count(n => n is "a" or "b") == 2, running);
        File.WriteAllText(gate, "");
        var run = await running;
        Assert.Equal(RunState.Succeeded, run.State);

        // ... and the node that needs both cores never overlapped either of them (before both or after both).
        var e = observer.Events;
        int At(string what) => EventAt(e, what);
        Assert.True(At("finished w") < Math.Min(At("started a"), At("started b")) || At("started w") > Math.Max(At("finished a"), At("finished b")), string.Join(", ", e));
        // Each node set its thread count on its own slot's thread before it ran: 1 where declared, else every core.
        var ledger = (await new EngineDocuments(h.Store).GetRunAsync(run.RunId))!;
        var threadOf = ledger.Nodes.ToDictionary(n => n.NodeId, n => n.Summary!["threads"]);
        Assert.Equal(3, applied.Count);
        Assert.Contains((threadOf["a"], 1), applied);
        Assert.Contains((threadOf["b"], 1), applied);
        Assert.Contains((threadOf["w"], 2), applied);
        // The declared count is what the fingerprint records.
        var nodes = h.Fingerprints(pipeline);
        Assert.Equal("1", nodes["a"].Parts["env.threads"]);
        Assert.Equal("2", nodes["w"].Parts["env.threads"]);
    }

    [Fact]
    public void A_node_that_declares_its_threads_has_the_same_fingerprint_on_any_number_of_cores()
    {
        var pipeline = h.Load("stages:\n  one: {kind: count, params: {steps: 1, threads: 1}}\n  all: {kind: count, params: {steps: 1}}\n");
        IReadOnlyDictionary<string, PlannedNode> On(string cores)
        {
            h.Facts = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"), ("threads", cores));
            return h.Fingerprints(pipeline);
        }
        var (two, sixteen) = (On("2"), On("16"));
        Assert.Equal(two["one"].Fingerprint, sixteen["one"].Fingerprint);
        Assert.NotEqual(two["all"].Fingerprint, sixteen["all"].Fingerprint);
        Assert.Equal("16", sixteen["all"].Parts["env.threads"]);
    }

    [Fact]
    public async Task A_pool_that_counts_cores_serves_waiting_nodes_first_fit_and_says_why_they_wait()
    {
        var pool = new DevicePool([new("cpu:0", "cpu"), new("cpu:1", "cpu"), new("cpu:2", "cpu")], cores: 2);
        Assert.Equal(2, pool.CoresFor(null));   // undeclared: every core
        Assert.Equal(1, pool.CoresFor(1));
        Assert.Equal(2, pool.CoresFor(8));      // never more than the pool has
        var one = await pool.LeaseAsync(1, CancellationToken.None);
        var all = pool.LeaseAsync(2, CancellationToken.None);
        Assert.False(all.IsCompleted);
        Assert.Contains("waiting for 2 free core(s) of 2 (1 free)", pool.WhyWait(2));
        // A one-core node asked later passes the waiting two-core one: it fits now.
        var other = pool.LeaseAsync(1, CancellationToken.None);
        Assert.True(other.IsCompleted);
        one.Dispose();
        Assert.False(all.IsCompleted);
        (await other).Dispose();
        var whole = await all.WaitAsync(Patience);
        Assert.Contains("(0 free)", pool.WhyWait(1));
        // A cancelled wait leaves the queue and takes nothing.
        using var cts = new CancellationTokenSource();
        var cancelled = pool.LeaseAsync(1, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        whole.Dispose();
        Assert.Null(pool.WhyWait(2));
        // A pool that does not count cores only counts slots.
        var gpus = new DevicePool([new("cuda:0", "cuda:0")]);
        Assert.Equal(0, gpus.CoresFor(null));
        using var held = await gpus.LeaseAsync(gpus.CoresFor(null), CancellationToken.None);
        Assert.Equal("waiting for a free device (all 1 busy)", gpus.WhyWait(0));
    }

    public static TheoryData<string, string, int, string> BadDevices => new()
    {
        { "gpu0", "cpu", 0, "'gpu0' is not a device (expected cpu or cuda:N" },
        { "cuda", "cuda", 2, "'cuda' is not a device" },
        { "cuda:x", "cuda", 2, "'cuda:x' is not a device" },
        { "cuda:-1", "cuda", 2, "'cuda:-1' is not a device" },
        { "cpu,,cpu", "cpu", 0, "'cpu,,cpu' has an empty entry" },
        { "cuda:0", "cpu", 0, "'cuda:0' is not a cpu device, and this run computes on cpu" },
        { "cuda:0,cpu", "cuda", 1, "'cpu' is not a cuda device" },
        { "cuda:0,cuda:2", "cuda", 2, "'cuda:2' does not exist: this machine has 2 visible CUDA device(s) (cuda:0 … cuda:1)" },
    };

    [Theory]
    [MemberData(nameof(BadDevices))]
    public void A_bad_device_list_is_an_input_error_naming_the_entry(string spec, string type, int gpus, string message)
    {
        var e = Assert.Throws<PipelineException>(() => DevicePool.Parse(spec, type, gpus));
        Assert.Contains("--devices", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Device_lists_name_their_slots()
    {
        Assert.Equal([new DeviceSlot("cpu:0", "cpu"), new DeviceSlot("cpu:1", "cpu")], DevicePool.Parse("cpu, cpu", "cpu", 0).Slots);
        Assert.Equal(["cuda:1", "cuda:0", "cuda:1"], DevicePool.Parse("cuda:1,cuda:0,cuda:1", "cuda", 2).Slots.Select(s => s.Torch));
        Assert.Equal(["cuda:0", "cuda:1", "cuda:2"], DevicePool.Default("cuda", 3, jobs: 1).Slots.Select(s => s.Name));
        Assert.Equal(["cpu:0", "cpu:1", "cpu:2"], DevicePool.Default("cpu", 0, jobs: 3).Slots.Select(s => s.Name));
    }

    public void Dispose() => h.Dispose();

    /// <summary>What the executor reported, in order.</summary>
    /// <summary>Where an event is in the order observed; fails when it never happened (IndexOf's −1 would order first).</summary>
    private static int EventAt(List<string> events, string what)
    {
        var at = events.IndexOf(what);
        Assert.True(at >= 0, $"no '{what}' among the events: {string.Join(", ", events)}");
        return at;
    }

    private sealed class Recorder : IRunObserver
    {
        public ConcurrentDictionary<string, string> Placed { get; } = new();
        public ConcurrentQueue<(string Node, string Why)> Waiting { get; } = new();
        public ConcurrentQueue<string> Started { get; } = new();
        private readonly List<string> events = [];

        public List<string> Events { get { lock (events) return [.. events]; } }

        public void NodeWaiting(PlannedNode node, string why) => Waiting.Enqueue((node.Id, why));
        public void NodePlaced(PlannedNode node, string device) => Placed[node.Id] = device;

        public void NodeStarted(PlannedNode node, IReadOnlyList<string> reasons)
        {
            Started.Enqueue(node.Id);
            lock (events) events.Add($"started {node.Id}");
        }

        public void NodeFinished(PlannedNode node, NodeOutcome outcome)
        {
            lock (events) events.Add($"finished {node.Id}");
        }

        /// <summary>Waits until <paramref name="condition"/> holds; fails if the run ends first or it takes too long.</summary>
        public async Task WaitAsync(Func<bool> condition, Task run)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (!condition())
            {
                if (run.IsCompleted) throw new Xunit.Sdk.XunitException($"the run ended before the condition held: {string.Join(", ", Events)}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"condition not reached in {Patience}: {string.Join(", ", Events)}");
                await Task.Delay(20);
            }
        }
    }
}

using Fusion.Artifacts.Store;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Workflow.Execution;

/// <summary>What to run. Selectors are node ids (train[early-concat]) or stage names (all their variants).</summary>
public sealed record RunOptions
{
    /// <summary>Run only these nodes (their inputs must already be committed).</summary>
    public IReadOnlyList<string> Only { get; init; } = [];

    /// <summary>Run these nodes and everything upstream of them.</summary>
    public IReadOnlyList<string> Until { get; init; } = [];

    /// <summary>Recompute these nodes even when cached; "all" forces every selected node.</summary>
    public IReadOnlyList<string> Force { get; init; } = [];

    public bool Verify { get; init; }

    /// <summary>How many independent nodes may run at once.</summary>
    public int Jobs { get; init; } = 1;

    /// <summary>Recorded in the ledger (the command line that started the run).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    public IReadOnlyList<string> Overrides { get; init; } = [];
}

/// <summary>
/// The in-process executor: walks the DAG in topological order, runs each selected node through a
/// <see cref="NodeRunner"/> (at most <see cref="RunOptions.Jobs"/> at once), skips nodes downstream of a failure, and
/// records the run in the ledger after every node. While it runs, it is announced to gc (<see cref="LiveRuns"/>).
/// Concurrent torch nodes run on distinct slots of <c>devices</c> (nodes beyond the free slots wait for one).
/// </summary>
public sealed class Executor(IArtifactStore store, StageRegistry registry, IEnvironmentFactsProvider environment, ILoggerFactory loggers, IRunObserver? observer = null, DevicePool? devices = null)
{
    /// <summary>The fingerprinted nodes of <paramref name="pipeline"/> under this machine's environment facts.</summary>
    public IReadOnlyDictionary<string, PlannedNode> Fingerprint(Pipeline pipeline) => Fingerprinter.Compute(pipeline, registry, environment.GetFacts());

    /// <summary>The node ids <paramref name="options"/> select, and the ones it forces.</summary>
    public static (IReadOnlySet<string> Selected, IReadOnlySet<string> Forced) Select(Pipeline pipeline, RunOptions options)
    {
        IEnumerable<string> selected = pipeline.Nodes.Select(n => n.Id);
        if (options.Until.Count > 0) selected = selected.Intersect(pipeline.WithAncestors(options.Until.SelectMany(pipeline.Resolve)));
        if (options.Only.Count > 0) selected = selected.Intersect(options.Only.SelectMany(pipeline.Resolve));
        var set = selected.ToHashSet(StringComparer.Ordinal);
        var forced = options.Force.Contains("all") ? set
            : options.Force.SelectMany(pipeline.Resolve).ToHashSet(StringComparer.Ordinal);
        var outside = forced.Except(set).ToList();
        if (outside.Count > 0) throw new PipelineException($"--force names nodes that --only/--until leave out: {string.Join(", ", outside)}");
        return (set, forced);
    }

    public async Task<IReadOnlyList<PlanEntry>> PlanAsync(Pipeline pipeline, RunOptions options, CancellationToken ct = default)
    {
        var (selected, forced) = Select(pipeline, options);
        return await Planner.PlanAsync(store, pipeline, Fingerprint(pipeline), selected, forced, options.Verify, ct);
    }

    public async Task<RunRecord> RunAsync(Pipeline pipeline, RunOptions options, CancellationToken ct = default)
    {
        var facts = environment.GetFacts();
        var nodes = Fingerprinter.Compute(pipeline, registry, facts);
        var (selected, forced) = Select(pipeline, options);
        var runId = RunRecord.NewId();
        // Before anything is read: from here on gc keeps what this run reads and writes, until it ends or dies.
        await using var live = await LiveRuns.RegisterAsync(store, runId, LiveRuns.Fingerprints(selected.Select(id => nodes[id])), ct);
        var plan = (await Planner.PlanAsync(store, pipeline, nodes, selected, forced, false, ct)).ToDictionary(p => p.Node.Id);
        var documents = new EngineDocuments(store);
        var run = new RunRecord
        {
            RunId = runId,
            Pipeline = pipeline.Name,
            PipelineFile = pipeline.File,
            Profile = pipeline.Profile,
            Overrides = options.Overrides,
            Arguments = options.Arguments,
            StartedUtc = DateTimeOffset.UtcNow,
            Facts = facts.Values,
        };
        await documents.SaveRunAsync(run, ct);
        var log = loggers.CreateLogger("fusion.engine");
        var hashedBefore = FileVerifier.Shared.Totals;
        var outcomes = new Dictionary<string, Task<NodeOutcome>>(StringComparer.Ordinal);
        using var slots = new SemaphoreSlim(Math.Max(1, options.Jobs));

        Task Record(NodeOutcome outcome) => RecordAsync(documents, run, outcome);
        var runner = new InputRepair(new NodeRunner(store, registry, facts, loggers, observer, devices), nodes, pipeline.Name, Record, log);

        async Task<NodeOutcome> RunNode(PlannedNode node)
        {
            var upstream = await Task.WhenAll(node.Definition.Upstream.Where(outcomes.ContainsKey).Select(u => outcomes[u]));
            var started = DateTimeOffset.UtcNow;
            NodeOutcome outcome;
            if (upstream.FirstOrDefault(u => u.State is not (NodeState.Cached or NodeState.Ran)) is { } bad)
                outcome = new NodeOutcome(node.Id, node.Fingerprint, NodeState.Skipped, started, TimeSpan.Zero, $"upstream {bad.NodeId} {bad.State.ToString().ToLowerInvariant()}");
            else if (ct.IsCancellationRequested)
                outcome = new NodeOutcome(node.Id, node.Fingerprint, NodeState.Skipped, started, TimeSpan.Zero, "run interrupted before it started");
            else
            {
                await slots.WaitAsync(CancellationToken.None);
                try
                {
                    outcome = ct.IsCancellationRequested
                        ? new NodeOutcome(node.Id, node.Fingerprint, NodeState.Skipped, started, TimeSpan.Zero, "run interrupted before it started")
                        : await Task.Run(() => RunSelected(runner, node, pipeline.Name, forced.Contains(node.Id), options.Verify, plan[node.Id].Reasons, upstream, ct), CancellationToken.None);
                }
                finally { slots.Release(); }
            }
            await Record(outcome);
            return outcome;
        }

        foreach (var definition in pipeline.Nodes.Where(n => selected.Contains(n.Id)))
            outcomes[definition.Id] = RunNode(nodes[definition.Id]);
        var results = await Task.WhenAll(outcomes.Values);
        var hashed = FileVerifier.Shared.Totals - hashedBefore;
        log.LogDebug("inputs verified: {Files} files, {Bytes} bytes hashed in {Seconds:F3} s", hashed.Files, hashed.Bytes, hashed.Elapsed.TotalSeconds);

        run.FinishedUtc = DateTimeOffset.UtcNow;
        run.State = results.Any(r => r.State == NodeState.Interrupted) || ct.IsCancellationRequested ? RunState.Interrupted
            : results.Any(r => r.State is NodeState.Failed or NodeState.Skipped) ? RunState.Failed
            : RunState.Succeeded;
        await documents.SaveRunAsync(run, CancellationToken.None);
        return run;
    }

    /// <summary>Records a node's outcome in the ledger; a node recomputed for a damaged output replaces its earlier line.</summary>
    private static async Task RecordAsync(EngineDocuments documents, RunRecord run, NodeOutcome outcome)
    {
        lock (run.Nodes)
        {
            var earlier = run.Nodes.FindIndex(n => n.NodeId == outcome.NodeId);
            if (earlier >= 0) run.Nodes[earlier] = NodeRecord.From(outcome);
            else run.Nodes.Add(NodeRecord.From(outcome));
            if (outcome.Exception is { } failure) run.Failures[outcome.NodeId] = failure;
        }
        await documents.SaveRunAsync(run, CancellationToken.None);
    }

    /// <summary>
    /// Runs one selected node. Under --verify a node downstream of one recomputed for a broken output is recomputed too
    /// (it may have been built from the damaged bytes, though its own files match its manifest), and counts as repaired.
    /// </summary>
    private static async Task<NodeOutcome> RunSelected(InputRepair runner, PlannedNode node, string pipeline, bool force, bool verify, IReadOnlyList<string> reasons,
        IReadOnlyList<NodeOutcome> upstream, CancellationToken ct)
    {
        var rebuilt = verify ? upstream.Where(u => u.Repaired).Select(u => u.NodeId).ToList() : [];
        if (rebuilt.Count > 0 && !force)
            reasons = [$"upstream {string.Join(", ", rebuilt)} was recomputed for a broken output (--verify): this node may have been built from its damaged bytes"];
        var outcome = await runner.RunAsync(node, new NodeRunOptions(pipeline, force || rebuilt.Count > 0, verify, reasons), ct);
        return rebuilt.Count > 0 && outcome.State == NodeState.Ran ? outcome with { Repaired = true } : outcome;
    }
}

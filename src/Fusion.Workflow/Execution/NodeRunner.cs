using System.Diagnostics;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Tables;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Workflow.Execution;

/// <summary>How to run one node.</summary>
/// <param name="Pipeline">Pipeline name (keys the node index).</param>
/// <param name="Force">Recompute even when a committed output exists (it is replaced).</param>
/// <param name="Verify">Check SHA-256 of every file of its committed output when looking it up (sizes are always checked;
/// a file of an input is hashed when the stage reads it, verify or not).</param>
/// <param name="Reasons">Why it runs (from the plan), recorded in the ledger.</param>
public sealed record NodeRunOptions(string Pipeline, bool Force = false, bool Verify = false, IReadOnlyList<string>? Reasons = null);

/// <summary>
/// Runs one node given its fingerprinted definition and the store: the unit a distributed executor calls as an
/// activity. Reuses a committed output; otherwise claims the fingerprint (waiting for another process that holds it,
/// then reusing its result), checks the inputs against their manifests (sizes here; each file's SHA-256 when the stage
/// first reads it, see <see cref="InputArtifact.GetPathAsync"/>: a damaged one fails the node with a
/// <see cref="DamagedInputException"/>, which <see cref="InputRepair"/> repairs), runs the stage into a staging folder
/// with its scratch folder for checkpoints, commits atomically and deletes the scratch. A torch node runs on a slot leased
/// from <c>devices</c> (waiting for a free one, and on the CPU for its threads' cores); without a pool it runs on the
/// facts' device. On the CPU it first sets its thread count (<see cref="IComputeRuntime"/>) on the thread it runs on.
/// </summary>
public sealed class NodeRunner(IArtifactStore store, StageRegistry registry, EnvironmentFacts facts, ILoggerFactory loggers, IRunObserver? observer = null, DevicePool? devices = null)
{
    private readonly IRunObserver observer = observer ?? NullRunObserver.Instance;
    private readonly EngineDocuments documents = new(store);
    private readonly ILogger log = loggers.CreateLogger("fusion.engine");

    public async Task<NodeOutcome> RunAsync(PlannedNode node, NodeRunOptions options, CancellationToken ct)
    {
        var run = new NodeRun(node, options);
        if (!options.Force && (await LookupAsync(node, options.Verify, ct)).Manifest is { } cached)
            return await CachedAsync(node, options, run.Outcome(NodeState.Cached, manifest: cached), ct);

        var (claim, waited) = await ClaimAsync(node, ct);
        if (claim is null) return Finish(node, run.Outcome(NodeState.Interrupted, "cancelled while waiting for another run"));
        await using (claim)
        {
            if (!options.Force)
            {
                var lookup = await LookupAsync(node, options.Verify, ct);
                if (lookup.Manifest is { } theirs)
                    return await CachedAsync(node, options, run.Outcome(NodeState.Cached, manifest: theirs, reused: waited), ct);
                run.Broken = lookup.Problem is not null;
            }
            return await RunClaimedAsync(run, ct);
        }
    }

    /// <summary>Claims the fingerprint, saying so when another process holds it; a null claim when cancelled while waiting.</summary>
    private async Task<(IAsyncDisposable? Claim, bool Waited)> ClaimAsync(PlannedNode node, CancellationToken ct)
    {
        var claiming = store.ClaimAsync(node.Fingerprint, ct);
        var waited = false;
        try
        {
            if (await Task.WhenAny(claiming, Task.Delay(200, CancellationToken.None)) != claiming)
            {
                waited = true;
                var holder = await store.GetClaimHolderAsync(node.Fingerprint, ct);
                observer.NodeWaiting(node, $"another run is computing it{(holder is null ? "" : $" (held by {holder})")}; waiting to reuse its result");
                log.LogDebug("{Node}: another run holds {Fingerprint}; waiting", node.Id, node.Short);
            }
            return (await claiming, waited);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return (null, waited); }
    }

    /// <summary>With the claim held: inputs, device and threads, then the stage into staging, then the commit.</summary>
    private async Task<NodeOutcome> RunClaimedAsync(NodeRun run, CancellationToken ct)
    {
        var node = run.Node;
        var kind = registry.Get(node.Definition.Kind);
        var (inputs, problem) = await InputsAsync(node, ct);
        if (inputs is null) return Finish(node, run.Outcome(NodeState.Failed, problem));

        var torch = DevicePool.NeedsDevice(kind);
        var declared = NodeThreads.Declared(node.Definition.Params);
        var threads = ThreadCount(torch, declared);
        if (devices is not null && torch && !await LeaseAsync(run, devices, declared, ct))
            return Finish(node, run.Outcome(NodeState.Interrupted, "cancelled while waiting for a free device"));
        using var held = run.Lease;

        // --force starts clean: a forced node must not resume from checkpoints (which may be what is wrong).
        if (run.Options.Force) await store.DeleteScratchAsync(node.Fingerprint, ct);
        var staging = await store.BeginStagingAsync(node.Fingerprint, ct);
        var scratch = await store.GetScratchDirectoryAsync(node.Fingerprint, ct);
        var context = Context(run, inputs, staging, scratch, NodeFacts(run.Lease, threads), ct);
        Announce(run, kind, scratch);
        try
        {
            await ComputeAsync(run, kind, context, threads);
            CheckOutputs(kind, staging);
            return await CommitAsync(run, kind, staging, context);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await store.AbortStagingAsync(staging, CancellationToken.None);
            return Finish(node, run.Outcome(NodeState.Interrupted, "interrupted; its checkpoints are kept for the next run"));
        }
        catch (Exception thrown)
        {
            await store.AbortStagingAsync(staging, CancellationToken.None);
            return Failed(run, NameWriter(thrown, inputs));
        }
    }

    /// <summary>
    /// The committed upstream artifacts by input name; null and the reason when one has no usable output. Sizes only:
    /// a file's hash is checked when the stage reads it, where a damaged one is repaired (not here, where it would fail
    /// the node, nor for files the stage never reads).
    /// </summary>
    private async Task<(Dictionary<string, IReadOnlyList<InputArtifact>>? Inputs, string? Problem)> InputsAsync(PlannedNode node, CancellationToken ct)
    {
        var inputs = new Dictionary<string, IReadOnlyList<InputArtifact>>(StringComparer.Ordinal);
        foreach (var (name, upstream) in node.Definition.Inputs)
        {
            var list = new List<InputArtifact>();
            for (var i = 0; i < upstream.Count; i++)
            {
                var fp = node.InputFingerprints[name][i];
                var lookup = await store.GetManifestAsync(fp, false, ct);
                if (lookup.Manifest is null)
                    return (null, $"input '{name}': {upstream[i]} ({fp[..12]}) has no usable committed output" +
                        (lookup.Problem is null ? "; run it first" : $": {lookup.Problem}"));
                list.Add(new InputArtifact(upstream[i], lookup.Manifest, store, node.InputRecipes?.GetValueOrDefault(name)?[i]));
            }
            inputs[name] = list;
        }
        return (inputs, null);
    }

    /// <summary>On the CPU a torch node computes on its declared threads, else on every core (the machine's fact).</summary>
    private int? ThreadCount(bool torch, int? declared) =>
        torch && facts.Device == "cpu" ? declared ?? NodeThreads.Machine(facts) : null;

    /// <summary>Leases a device slot (and on the CPU cores for its threads), saying why it waits; false when cancelled.</summary>
    private async Task<bool> LeaseAsync(NodeRun run, DevicePool pool, int? declared, CancellationToken ct)
    {
        var cores = pool.CoresFor(declared);
        var leasing = pool.LeaseAsync(cores, ct);
        if (!leasing.IsCompleted && pool.WhyWait(cores) is { } why)
        {
            observer.NodeWaiting(run.Node, why);
            log.LogDebug("{Node}: {Why}", run.Node.Id, why);
        }
        try { run.Lease = await leasing; }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return false; }
        // A node's time is its own work, not its wait for a device or for cores.
        run.Restart();
        return true;
    }

    /// <summary>
    /// The facts the stage sees: the stage computes on its slot; the fingerprint keeps the device type (placement does
    /// not change results).
    /// </summary>
    private EnvironmentFacts NodeFacts(DeviceLease? lease, int? threads)
    {
        var nodeValues = new Dictionary<string, string>(facts.Values);
        if (lease is not null) nodeValues[EnvironmentFacts.DeviceKey] = lease.Slot.Torch;
        if (threads is not null && nodeValues.ContainsKey(EnvironmentFacts.ThreadsKey)) nodeValues[EnvironmentFacts.ThreadsKey] = threads.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return facts with { Values = nodeValues };
    }

    private StageContext Context(NodeRun run, IReadOnlyDictionary<string, IReadOnlyList<InputArtifact>> inputs, StagingArea staging, string scratch, EnvironmentFacts nodeFacts, CancellationToken ct) => new()
    {
        NodeId = run.Node.Id,
        Variant = run.Node.Definition.Variant,
        Fingerprint = run.Node.Fingerprint,
        Inputs = inputs,
        OutputDirectory = staging.Directory,
        ScratchDirectory = scratch,
        Progress = new ObservedProgress(observer, run.Node),
        Logger = loggers.CreateLogger($"fusion.{run.Node.Id}"),
        CancellationToken = ct,
        Environment = nodeFacts,
    };

    private void Announce(NodeRun run, IStageKind kind, string scratch)
    {
        var (node, lease, reasons) = (run.Node, run.Lease, run.Options.Reasons);
        if (lease is not null) observer.NodePlaced(node, lease.Slot.Name);
        observer.NodeScratch(node, scratch);
        observer.NodeStarted(node, reasons ?? []);
        log.LogDebug("{Node}: running {Kind} ({Fingerprint}){Device}{Why}", node.Id, kind.Name, node.Short, lease is null ? "" : " on " + lease.Slot.Name,
            reasons is { Count: > 0 } r ? ": " + string.Join("; ", r) : "");
    }

    /// <summary>
    /// Runs the stage on its slot's thread: one OpenMP team per slot instead of one per thread-pool thread. The thread
    /// count is set there for every CPU torch node, since another node may have changed it.
    /// </summary>
    private async Task ComputeAsync(NodeRun run, IStageKind kind, StageContext context, int? threads)
    {
        var lease = run.Lease;
        var compute = registry.Compute;
        Task Work()
        {
            if (threads is { } n) compute?.SetThreads(n);
            return kind.RunAsync(context, run.Node.Definition.Params);
        }
        if (lease is not null) await lease.RunAsync(compute, Work);
        else if (threads is not null && compute is not null)
        {
            // No pool: a thread of its own, so the count it sets holds for all of its work, awaits included.
            using var own = compute.StartThread($"fusion {run.Node.Id}");
            await own.RunAsync(Work);
        }
        else await Work();
    }

    private static void CheckOutputs(IStageKind kind, StagingArea staging)
    {
        var missing = kind.Outputs.Where(o => o.EndsWith('/') ? !Directory.Exists(Path.Combine(staging.Directory, o)) : !File.Exists(Path.Combine(staging.Directory, o))).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"stage kind '{kind.Name}' did not write its declared outputs: {string.Join(", ", missing)}");
    }

    private async Task<NodeOutcome> CommitAsync(NodeRun run, IStageKind kind, StagingArea staging, StageContext context)
    {
        var node = run.Node;
        // Forced, or broken (a file missing or altered): remove what is there, as late as possible, so the
        // create-only commit replaces it.
        await store.DeleteArtifactAsync(node.Fingerprint, CancellationToken.None);
        var info = new ManifestInfo(node.Id, kind.Name, kind.CodeVersion, node.Parts, run.Started, run.Elapsed, new SortedDictionary<string, string>(context.Summary));
        var manifest = await store.CommitAsync(staging, info, CancellationToken.None);
        await store.DeleteScratchAsync(node.Fingerprint, CancellationToken.None);
        await documents.PutIndexAsync(run.Options.Pipeline, new NodeIndexEntry(node.Id, node.Fingerprint, node.Parts, DateTimeOffset.UtcNow), CancellationToken.None);
        return Finish(node, run.Outcome(NodeState.Ran, manifest: manifest));
    }

    private NodeOutcome Failed(NodeRun run, Exception e)
    {
        // A damaged input is named, not a bug: the executor recomputes the node that wrote it and runs this one again.
        if (DamagedInputException.In(e) is { } damaged) log.LogWarning("{Node}: {Problem}", run.Node.Id, damaged.Message);
        else log.LogError(e, "{Node} failed", run.Node.Id);
        return Finish(run.Node, run.Outcome(NodeState.Failed, $"{e.GetType().Name}: {e.Message}", exception: e));
    }

    /// <summary>A damaged input table also names the upstream node that wrote it (its path holds that artifact's fingerprint).</summary>
    private static Exception NameWriter(Exception e, IReadOnlyDictionary<string, IReadOnlyList<InputArtifact>> inputs) =>
        e is TableDamagedException { Node: null } damaged
        && inputs.Values.SelectMany(list => list).FirstOrDefault(i => damaged.Path.Contains(i.Fingerprint, StringComparison.Ordinal)) is { } writer
            ? damaged.Of(writer.NodeId)
            : e;

    private async Task<ManifestLookup> LookupAsync(PlannedNode node, bool verify, CancellationToken ct)
    {
        var lookup = await store.GetManifestAsync(node.Fingerprint, verify, ct);
        if (lookup.Problem is not null) log.LogWarning("{Node}: committed output is broken and will be recomputed: {Problem}", node.Id, lookup.Problem);
        return lookup;
    }

    private async Task<NodeOutcome> CachedAsync(PlannedNode node, NodeRunOptions options, NodeOutcome outcome, CancellationToken ct)
    {
        // The index only explains staleness; the artifact's manifest is the truth, so an unreadable index is rebuilt from it.
        var index = await documents.ReadIndexAsync(options.Pipeline, node.Id, ct);
        if (index.Error is { } unreadable) log.LogWarning("{Node}: {Problem}; rebuilt from the committed artifact's manifest", node.Id, unreadable.Message);
        if (index.Value?.Fingerprint != node.Fingerprint)
            await documents.PutIndexAsync(options.Pipeline, new NodeIndexEntry(node.Id, node.Fingerprint, node.Parts, DateTimeOffset.UtcNow), ct);
        return Finish(node, outcome);
    }

    private NodeOutcome Finish(PlannedNode node, NodeOutcome outcome)
    {
        observer.NodeFinished(node, outcome);
        return outcome;
    }

    /// <summary>One node's run: what it was asked, its clock and its device lease, and how its outcome reads.</summary>
    private sealed class NodeRun(PlannedNode node, NodeRunOptions options)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        public PlannedNode Node => node;
        public NodeRunOptions Options => options;
        public DateTimeOffset Started { get; private set; } = DateTimeOffset.UtcNow;
        public TimeSpan Elapsed => clock.Elapsed;
        public DeviceLease? Lease { get; set; }

        /// <summary>Its committed output was there but broken: a run replaces it.</summary>
        public bool Broken { get; set; }

        public void Restart()
        {
            Started = DateTimeOffset.UtcNow;
            clock.Restart();
        }

        public NodeOutcome Outcome(NodeState state, string? error = null, Manifest? manifest = null, bool reused = false, Exception? exception = null) =>
            new(node.Id, node.Fingerprint, state, Started, clock.Elapsed, error, manifest, reused, state == NodeState.Cached ? [] : options.Reasons, Lease?.Slot.Name, exception,
                Repaired: state == NodeState.Ran && Broken);
    }

    private sealed class ObservedProgress(IRunObserver observer, PlannedNode node) : IStageProgress
    {
        public void Report(long current, long total, string unit = "it") => observer.NodeProgress(node, current, total, unit);
    }
}

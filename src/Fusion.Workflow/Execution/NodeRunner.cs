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
/// <param name="Verify">Check SHA-256 of every input file (sizes are always checked).</param>
/// <param name="Reasons">Why it runs (from the plan), recorded in the ledger.</param>
public sealed record NodeRunOptions(string Pipeline, bool Force = false, bool Verify = false, IReadOnlyList<string>? Reasons = null);

/// <summary>
/// Runs one node given its fingerprinted definition and the store: the unit a distributed executor calls as an
/// activity. Reuses a committed output; otherwise claims the fingerprint (waiting for another process that holds it,
/// then reusing its result), checks the inputs against their manifests, runs the stage into a staging folder with
/// its scratch folder for checkpoints, commits atomically and deletes the scratch. A torch node runs on a slot leased
/// from <c>devices</c> (waiting for a free one, and on the CPU for its threads' cores); without a pool it runs on the
/// facts' device. On the CPU it first sets its thread count (<see cref="NodeThreads"/>) on the thread it runs on.
/// </summary>
public sealed class NodeRunner(IArtifactStore store, StageRegistry registry, EnvironmentFacts facts, ILoggerFactory loggers, IRunObserver? observer = null, DevicePool? devices = null)
{
    private readonly IRunObserver observer = observer ?? NullRunObserver.Instance;
    private readonly EngineDocuments documents = new(store);
    private readonly ILogger log = loggers.CreateLogger("fusion.engine");

    public async Task<NodeOutcome> RunAsync(PlannedNode node, NodeRunOptions options, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        DeviceLease? lease = null;
        NodeOutcome Outcome(NodeState state, string? error = null, Manifest? manifest = null, bool reused = false, Exception? exception = null) =>
            new(node.Id, node.Fingerprint, state, started, clock.Elapsed, error, manifest, reused, state == NodeState.Cached ? [] : options.Reasons, lease?.Slot.Name, exception);

        if (!options.Force && await LookupAsync(node, options.Verify, ct) is { } cached)
            return await CachedAsync(node, options, Outcome(NodeState.Cached, manifest: cached), ct);

        IAsyncDisposable claim;
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
            claim = await claiming;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return Finish(node, Outcome(NodeState.Interrupted, "cancelled while waiting for another run")); }

        await using (claim)
        {
            if (!options.Force && await LookupAsync(node, options.Verify, ct) is { } theirs)
                return await CachedAsync(node, options, Outcome(NodeState.Cached, manifest: theirs, reused: waited), ct);
            var kind = registry.Get(node.Definition.Kind);
            var inputs = new Dictionary<string, IReadOnlyList<InputArtifact>>(StringComparer.Ordinal);
            foreach (var (name, upstream) in node.Definition.Inputs)
            {
                var list = new List<InputArtifact>();
                for (var i = 0; i < upstream.Count; i++)
                {
                    var fp = node.InputFingerprints[name][i];
                    var lookup = await store.GetManifestAsync(fp, options.Verify, ct);
                    if (lookup.Manifest is null)
                        return Finish(node, Outcome(NodeState.Failed, $"input '{name}': {upstream[i]} ({fp[..12]}) has no usable committed output" +
                            (lookup.Problem is null ? "; run it first" : $": {lookup.Problem}")));
                    list.Add(new InputArtifact(upstream[i], lookup.Manifest, store, node.InputRecipes?.GetValueOrDefault(name)?[i]));
                }
                inputs[name] = list;
            }

            var torch = DevicePool.NeedsDevice(kind);
            // On the CPU a torch node computes on its declared threads, else on every core (the machine's fact).
            var declared = NodeThreads.Declared(node.Definition.Params);
            var threads = torch && facts.Device == "cpu" ? declared ?? NodeThreads.Machine(facts) : null;
            if (devices is not null && torch)
            {
                var cores = devices.CoresFor(declared);
                var leasing = devices.LeaseAsync(cores, ct);
                if (!leasing.IsCompleted && devices.WhyWait(cores) is { } why)
                {
                    observer.NodeWaiting(node, why);
                    log.LogDebug("{Node}: {Why}", node.Id, why);
                }
                try { lease = await leasing; }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return Finish(node, Outcome(NodeState.Interrupted, "cancelled while waiting for a free device")); }
                // A node's time is its own work, not its wait for a device or for cores.
                started = DateTimeOffset.UtcNow;
                clock.Restart();
            }
            using var held = lease;
            // The stage computes on its slot; the fingerprint keeps the device type (placement does not change results).
            var nodeValues = new Dictionary<string, string>(facts.Values);
            if (lease is not null) nodeValues[EnvironmentFacts.DeviceKey] = lease.Slot.Torch;
            if (threads is not null && nodeValues.ContainsKey(EnvironmentFacts.ThreadsKey)) nodeValues[EnvironmentFacts.ThreadsKey] = threads.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var nodeFacts = facts with { Values = nodeValues };

            // --force starts clean: a forced node must not resume from checkpoints (which may be what is wrong).
            if (options.Force) await store.DeleteScratchAsync(node.Fingerprint, ct);
            var staging = await store.BeginStagingAsync(node.Fingerprint, ct);
            var scratch = await store.GetScratchDirectoryAsync(node.Fingerprint, ct);
            var context = new StageContext
            {
                NodeId = node.Id,
                Variant = node.Definition.Variant,
                Fingerprint = node.Fingerprint,
                Inputs = inputs,
                OutputDirectory = staging.Directory,
                ScratchDirectory = scratch,
                Progress = new ObservedProgress(observer, node),
                Logger = loggers.CreateLogger($"fusion.{node.Id}"),
                CancellationToken = ct,
                Environment = nodeFacts,
            };
            if (lease is not null) observer.NodePlaced(node, lease.Slot.Name);
            observer.NodeScratch(node, scratch);
            observer.NodeStarted(node, options.Reasons ?? []);
            log.LogDebug("{Node}: running {Kind} ({Fingerprint}){Device}{Why}", node.Id, kind.Name, node.Short, lease is null ? "" : " on " + lease.Slot.Name,
                options.Reasons is { Count: > 0 } r ? ": " + string.Join("; ", r) : "");
            try
            {
                // On its slot's thread: one OpenMP team per slot instead of one per thread-pool thread (ComputeThread).
                // The thread count is set there for every CPU torch node, since another node may have changed it.
                Task Work()
                {
                    if (threads is { } n)
                    {
                        if (lease is not null) lease.ApplyThreads(n);
                        else NodeThreads.Apply?.Invoke(n);
                    }
                    return kind.RunAsync(context, node.Definition.Params);
                }
                if (lease is not null) await lease.Thread.RunAsync(Work);
                else if (threads is not null && NodeThreads.Apply is not null)
                {
                    // No pool: a thread of its own, so the count it sets holds for all of its work, awaits included.
                    using var own = new ComputeThread($"fusion {node.Id}");
                    await own.RunAsync(Work);
                }
                else await Work();
                var missing = kind.Outputs.Where(o => o.EndsWith('/') ? !Directory.Exists(Path.Combine(staging.Directory, o)) : !File.Exists(Path.Combine(staging.Directory, o))).ToList();
                if (missing.Count > 0) throw new InvalidOperationException($"stage kind '{kind.Name}' did not write its declared outputs: {string.Join(", ", missing)}");
                // Forced, or broken (a file missing or altered): remove what is there, as late as possible, so the
                // create-only commit replaces it.
                await store.DeleteArtifactAsync(node.Fingerprint, CancellationToken.None);
                var info = new ManifestInfo(node.Id, kind.Name, kind.CodeVersion, node.Parts, started, clock.Elapsed, new SortedDictionary<string, string>(context.Summary));
                var manifest = await store.CommitAsync(staging, info, CancellationToken.None);
                await store.DeleteScratchAsync(node.Fingerprint, CancellationToken.None);
                await documents.PutIndexAsync(options.Pipeline, new NodeIndexEntry(node.Id, node.Fingerprint, node.Parts, DateTimeOffset.UtcNow), CancellationToken.None);
                return Finish(node, Outcome(NodeState.Ran, manifest: manifest));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                await store.AbortStagingAsync(staging, CancellationToken.None);
                return Finish(node, Outcome(NodeState.Interrupted, "interrupted; its checkpoints are kept for the next run"));
            }
            catch (Exception thrown)
            {
                await store.AbortStagingAsync(staging, CancellationToken.None);
                var e = NameWriter(thrown, inputs);
                log.LogError(e, "{Node} failed", node.Id);
                return Finish(node, Outcome(NodeState.Failed, $"{e.GetType().Name}: {e.Message}", exception: e));
            }
        }
    }

    /// <summary>A damaged input table also names the upstream node that wrote it (its path holds that artifact's fingerprint).</summary>
    private static Exception NameWriter(Exception e, IReadOnlyDictionary<string, IReadOnlyList<InputArtifact>> inputs) =>
        e is TableDamagedException { Node: null } damaged
        && inputs.Values.SelectMany(list => list).FirstOrDefault(i => damaged.Path.Contains(i.Fingerprint, StringComparison.Ordinal)) is { } writer
            ? damaged.Of(writer.NodeId)
            : e;

    private async Task<Manifest?> LookupAsync(PlannedNode node, bool verify, CancellationToken ct)
    {
        var lookup = await store.GetManifestAsync(node.Fingerprint, verify, ct);
        if (lookup.Problem is not null) log.LogWarning("{Node}: committed output is broken and will be recomputed: {Problem}", node.Id, lookup.Problem);
        return lookup.Manifest;
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

    private sealed class ObservedProgress(IRunObserver observer, PlannedNode node) : IStageProgress
    {
        public void Report(long current, long total, string unit = "it") => observer.NodeProgress(node, current, total, unit);
    }
}

using Fusion.Artifacts.Store;
using Fusion.Worker.Distributed;
using Fusion.Worker.Documents;
using Fusion.Worker.Runs;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using WorkerRunState = Fusion.Worker.Runs.RunState;

namespace Fusion.Worker.Engine;

/// <summary>Scheduled runs on the engine's in-process executor (the default). The engine's ledger id of each run is
/// recorded as <c>worker/runs/&lt;run&gt;/engine-run.json</c>. With a device pool, as many nodes run at once as it has
/// slots (and, on the CPU, cores for their threads), as `fusion run` does without --jobs.</summary>
public sealed class EngineRunLauncher(IArtifactStore store, StageRegistry registry, IEnvironmentFactsProvider environment, ILoggerFactory loggers, IDocumentStore documents, DevicePool? devices = null)
    : IRunLauncher
{
    public sealed record EngineRunLink(string RunId, string EngineRunId);

    public async Task<RunOutcome> RunAsync(RunRequest request, CancellationToken ct)
    {
        var overrides = request.Overrides.Select(kv => $"{kv.Key}={kv.Value}").ToList();
        var pipeline = PipelineLoader.Load(request.PipelinePath, registry, request.Profile, overrides);
        var record = await new Executor(store, registry, environment, loggers, devices: devices).RunAsync(pipeline,
            new RunOptions { Overrides = overrides, Jobs = devices?.Slots.Count ?? 1, Arguments = ["worker", "--run-id", request.RunId] }, ct);
        await documents.PutAsync($"worker/runs/{request.RunId}/engine-run.json", WorkerJson.Serialize(new EngineRunLink(request.RunId, record.RunId)), CancellationToken.None);
        var failures = record.Nodes.Where(n => n.State is NodeState.Failed or NodeState.Skipped).Select(n => $"{n.NodeId}: {n.Error}").ToList();
        return record.State switch
        {
            Fusion.Workflow.Execution.RunState.Succeeded => new RunOutcome(request.RunId, WorkerRunState.Succeeded),
            Fusion.Workflow.Execution.RunState.Interrupted => new RunOutcome(request.RunId, WorkerRunState.Cancelled, "interrupted"),
            _ => new RunOutcome(request.RunId, WorkerRunState.Failed, string.Join("; ", failures)),
        };
    }
}

/// <summary>
/// Scheduled runs on the task hub: fingerprints the pipeline here, ships the DAG, waits, and records the run in the
/// engine's ledger under the schedule's run id. The fingerprints use this machine's environment facts, so run the
/// client with the pool's facts, or name them in <see cref="DistributedOptions.Facts"/> (workers refuse nodes they would
/// compute differently).
/// </summary>
public sealed class DistributedEngineRunLauncher(IArtifactStore store, StageRegistry registry, IEnvironmentFactsProvider environment,
    ILoggerFactory loggers, DistributedOptions options, TimeSpan timeout) : IRunLauncher
{
    public async Task<RunOutcome> RunAsync(RunRequest request, CancellationToken ct)
    {
        var overrides = request.Overrides.Select(kv => $"{kv.Key}={kv.Value}").ToList();
        var pipeline = PipelineLoader.Load(request.PipelinePath, registry, request.Profile, overrides);
        var own = environment.GetFacts();
        var facts = own with { Values = own.Values.Concat(options.Facts.Where(f => !own.Values.ContainsKey(f.Key)))
            .ToDictionary(f => f.Key, f => options.Facts.GetValueOrDefault(f.Key, f.Value), StringComparer.Ordinal) };
        var nodes = Fingerprinter.Compute(pipeline, registry, facts);
        var started = DateTimeOffset.UtcNow;
        await using var client = new DistributedRunClient(options, loggers);
        RunResult result;
        // The workers claim only the node they compute; this client keeps the whole run's inputs from gc while it waits.
        await using (await LiveRuns.RegisterAsync(store, request.RunId, LiveRuns.Fingerprints(nodes.Values), ct))
            result = await client.RunAsync(EngineDag.From(request.RunId, pipeline, nodes), timeout, ct);

        var record = new Fusion.Workflow.Execution.RunRecord
        {
            RunId = request.RunId, Pipeline = pipeline.Name, PipelineFile = pipeline.File, Profile = pipeline.Profile,
            Overrides = overrides, Arguments = ["worker", "--distributed", "--run-id", request.RunId], StartedUtc = started,
            FinishedUtc = DateTimeOffset.UtcNow, Facts = facts.Values,
            State = result.Succeeded ? Fusion.Workflow.Execution.RunState.Succeeded : Fusion.Workflow.Execution.RunState.Failed,
        };
        foreach (var r in result.Completed)
            record.Nodes.Add(new NodeRecord(r.NodeId, r.Fingerprint, r.Reused ? NodeState.Cached : NodeState.Ran, null, 0, null, [$"on {r.Worker}"], null, r.Device));
        foreach (var (id, error) in result.Failed) record.Nodes.Add(new NodeRecord(id, nodes[id].Fingerprint, NodeState.Failed, null, 0, error, null, null));
        foreach (var id in result.Blocked) record.Nodes.Add(new NodeRecord(id, nodes[id].Fingerprint, NodeState.Skipped, null, 0, "an upstream node failed", null, null));
        await new EngineDocuments(store).SaveRunAsync(record, CancellationToken.None);

        return result.Succeeded ? new RunOutcome(request.RunId, WorkerRunState.Succeeded)
            : new RunOutcome(request.RunId, WorkerRunState.Failed, string.Join("; ", result.Failed.Select(f => $"{f.Key}: {f.Value}").Concat(result.Blocked.Select(b => $"{b}: blocked"))));
    }
}

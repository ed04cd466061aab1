using DurableTask.AzureStorage;
using DurableTask.Core;
using DurableTask.Core.Exceptions;
using DurableTask.Core.Serializing;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Distributed;

/// <summary>
/// Starts a run on the task hub and waits for it. The orchestration's instance id derives from the run id and the DAG's
/// digest, so asking again for the same run attaches to it (running) or returns its result (completed) instead of
/// starting a second one; a failed or terminated run is started afresh under the same id (finished nodes are then
/// found committed and reused).
/// </summary>
public sealed class DistributedRunClient(DistributedOptions options, ILoggerFactory loggers) : IAsyncDisposable
{
    private static readonly OrchestrationStatus[] Live = [OrchestrationStatus.Pending, OrchestrationStatus.Running, OrchestrationStatus.ContinuedAsNew];
    private readonly AzureStorageOrchestrationService service = TaskHub.CreateService(options, loggers);
    private readonly ILogger logger = loggers.CreateLogger<DistributedRunClient>();

    public static string InstanceId(DagSpec dag) => $"{dag.RunId}-{dag.Digest()[..16]}";

    public async Task<RunResult> RunAsync(DagSpec dag, TimeSpan timeout, CancellationToken ct)
    {
        dag.Validate();
        await TaskHub.CreateIfNotExistsAsync(service, options, ct);
        var client = new TaskHubClient(service, loggerFactory: loggers);
        var id = InstanceId(dag);
        var state = await client.GetOrchestrationStateAsync(id);
        OrchestrationInstance instance;
        if (state is null || state.OrchestrationStatus is OrchestrationStatus.Failed or OrchestrationStatus.Terminated or OrchestrationStatus.Canceled)
        {
            try
            {
                instance = await client.CreateOrchestrationInstanceAsync(
                    NameVersionHelper.GetDefaultName(typeof(RunOrchestration)), "", id,
                    new DistributedRun(dag, options.MaxAttempts, options.FirstRetryDelay), tags: null, dedupeStatuses: Live);
                logger.LogInformation("run {Run}: started orchestration {Instance} on hub {Hub}", dag.RunId, id, options.TaskHub);
            }
            catch (OrchestrationAlreadyExistsException)
            {
                instance = new OrchestrationInstance { InstanceId = id };
            }
        }
        else
        {
            instance = state.OrchestrationInstance;
            logger.LogInformation("run {Run}: attaching to orchestration {Instance} ({Status})", dag.RunId, id, state.OrchestrationStatus);
        }
        var final = await client.WaitForOrchestrationAsync(new OrchestrationInstance { InstanceId = instance.InstanceId }, timeout, ct)
            ?? throw new TimeoutException($"run {dag.RunId} (orchestration {id}) did not finish within {timeout}");
        if (final.OrchestrationStatus != OrchestrationStatus.Completed)
            throw new InvalidOperationException($"run {dag.RunId} (orchestration {id}) ended {final.OrchestrationStatus}: {final.Output}");
        return JsonDataConverter.Default.Deserialize<RunResult>(final.Output);
    }

    public ValueTask DisposeAsync()
    {
        service.Dispose();
        return ValueTask.CompletedTask;
    }
}

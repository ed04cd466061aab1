using DurableTask.AzureStorage;
using DurableTask.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Distributed;

/// <summary>
/// Joins this process to the task hub as a worker: it runs run orchestrations and node activities alongside every other
/// worker of the hub, on any machine. On shutdown the running node is cancelled (it checkpoints) and handed back.
/// </summary>
public sealed class DistributedWorkerService(DistributedOptions options, INodeExecutor executor, ILoggerFactory loggers) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource stopping = new();
    private readonly ILogger logger = loggers.CreateLogger<DistributedWorkerService>();
    private AzureStorageOrchestrationService? service;
    private TaskHubWorker? worker;

    public async Task StartAsync(CancellationToken ct)
    {
        service = TaskHub.CreateService(options, loggers);
        await TaskHub.CreateIfNotExistsAsync(service, options, ct);
        worker = new TaskHubWorker(service, loggers);
        worker.AddTaskOrchestrations(typeof(RunOrchestration));
        worker.AddTaskActivities(new NodeActivity(executor, options.ResolvedWorkerId, stopping.Token));
        await worker.StartAsync();
        logger.LogInformation("worker {Worker} joined task hub {Hub} (up to {Nodes} node(s) at a time)", options.ResolvedWorkerId, options.TaskHub, options.MaxConcurrentNodes);
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (worker is null) return;
        logger.LogInformation("worker {Worker} leaving task hub {Hub}: cancelling running nodes", options.ResolvedWorkerId, options.TaskHub);
        await stopping.CancelAsync();
        // Graceful: wait for in-flight work items (the cancelled nodes abort quickly) and release partition leases.
        await worker.StopAsync(isForced: false).WaitAsync(ct);
    }

    public void Dispose()
    {
        worker?.Dispose();
        stopping.Dispose();
    }
}

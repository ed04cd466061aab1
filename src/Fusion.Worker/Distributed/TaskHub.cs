using Azure;
using Azure.Storage.Queues;
using DurableTask.AzureStorage;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Distributed;

/// <summary>The Durable Task service of one task hub on Azure Storage (queues, tables, lease blobs named after the hub).</summary>
public static class TaskHub
{
    // A refused or unresolvable endpoint fails at once; this bounds one that drops packets.
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Creates the hub's queues, tables and blobs unless they exist, after checking within seconds that its storage
    /// answers at all: Durable Task would retry for half a minute and then throw every attempt's stack.
    /// </summary>
    public static async Task CreateIfNotExistsAsync(AzureStorageOrchestrationService service, DistributedOptions options, CancellationToken ct)
    {
        await EnsureReachableAsync(options, ct);
        await service.CreateIfNotExistsAsync();
    }

    /// <summary>Throws <see cref="TaskHubUnreachableException"/> within seconds when the hub's storage does not answer.</summary>
    public static async Task EnsureReachableAsync(DistributedOptions options, CancellationToken ct)
    {
        var clientOptions = new QueueClientOptions { Retry = { MaxRetries = 0, NetworkTimeout = ProbeTimeout } };
        // Anonymous for an Entra ID account: any answer, a refusal included, proves it is reachable.
        var queues = options.AccountName is { Length: > 0 } account
            ? new QueueServiceClient(new Uri($"https://{account}.queue.core.windows.net"), clientOptions)
            : new QueueServiceClient(options.ConnectionString, clientOptions);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(ProbeTimeout);
        try { await queues.GetPropertiesAsync(bounded.Token); }
        catch (RequestFailedException e) when (e.Status != 0) { }   // it answered; credentials are Durable Task's to check
        catch (Exception e) when (!ct.IsCancellationRequested && e is RequestFailedException or AggregateException or HttpRequestException or OperationCanceledException)
        {
            throw new TaskHubUnreachableException(options.TaskHub, queues.Uri, e);
        }
    }

    public static AzureStorageOrchestrationService CreateService(DistributedOptions options, ILoggerFactory loggerFactory)
    {
        options.Validate();
        var lease = options.LeaseInterval;
        return new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = options.AccountName is { Length: > 0 } account
                ? new StorageAccountClientProvider(account, Fusion.Artifacts.Blob.BlobCredential.EntraIdToken())
                : new StorageAccountClientProvider(options.ConnectionString),
            TaskHubName = options.TaskHub,
            WorkerId = options.ResolvedWorkerId,
            PartitionCount = options.PartitionCount,
            MaxConcurrentTaskActivityWorkItems = options.MaxConcurrentNodes,
            MaxQueuePollingInterval = options.PollingInterval,
            WorkItemQueueVisibilityTimeout = options.NodeVisibilityTimeout,
            LeaseInterval = lease,
            LeaseRenewInterval = lease / 3,
            LeaseAcquireInterval = lease / 3,
            LoggerFactory = loggerFactory,
        });
    }
}

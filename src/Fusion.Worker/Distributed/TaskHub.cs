using DurableTask.AzureStorage;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Distributed;

/// <summary>The Durable Task service of one task hub on Azure Storage (queues, tables, lease blobs named after the hub).</summary>
public static class TaskHub
{
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

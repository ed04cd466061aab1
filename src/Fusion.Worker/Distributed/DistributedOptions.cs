using System.Text.RegularExpressions;

namespace Fusion.Worker.Distributed;

/// <summary>
/// <c>Worker:Distributed</c>: the Durable Task hub a worker joins. One hub per worker pool: a GPU pool and a CPU pool
/// each get their own <see cref="TaskHub"/> (Durable Task cannot route an activity to a subset of a hub's workers).
/// </summary>
public sealed partial class DistributedOptions
{
    /// <summary>Scheduled runs go to the task hub instead of the in-process executor.</summary>
    public bool Enabled { get; set; }

    /// <summary>Also execute nodes (join the hub as a worker). False for a scheduler-only process beside a GPU pool.</summary>
    public bool RunNodes { get; set; } = true;

    /// <summary>Azure Storage connection string (queues, tables and lease blobs of the hub), e.g. "UseDevelopmentStorage=true".</summary>
    public string ConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>
    /// Storage account name for an Entra ID connection (managed identity, workload identity, Azure CLI: whatever
    /// DefaultAzureCredential finds), no key in any file. When set it is used instead of <see cref="ConnectionString"/>;
    /// the identity needs the Storage Blob, Queue and Table Data Contributor roles.
    /// </summary>
    public string? AccountName { get; set; }

    /// <summary>Task hub name: 3–45 letters and digits, starting with a letter. The pool's name, e.g. "fusiongpu".</summary>
    public string TaskHub { get; set; } = "fusion";

    /// <summary>Control-queue partitions (1–16); at most this many workers process orchestrations at once.</summary>
    public int PartitionCount { get; set; } = 4;

    /// <summary>Nodes one worker runs at a time: 1 for a one-GPU worker.</summary>
    public int MaxConcurrentNodes { get; set; } = 1;

    /// <summary>The devices this worker's concurrent torch nodes run on, like <c>fusion run --devices</c>
    /// ("cuda:0,cuda:1,…"); unset = every visible GPU when it computes on CUDA, else one CPU slot per concurrent node.
    /// Set MaxConcurrentNodes to the number of GPUs to keep them all busy.</summary>
    public string? Devices { get; set; }

    /// <summary>Longest pause between polls of an idle worker (Durable Task's default of 30 s makes runs start slowly).</summary>
    public TimeSpan PollingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a dequeued node stays hidden from other workers; renewed while the node runs, so a dead
    /// worker's node reappears after at most this long.</summary>
    public TimeSpan NodeVisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Partition lease length: a dead worker's orchestrations move to another worker after about this long.</summary>
    public TimeSpan LeaseInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per node (failures, not redeliveries) before the run gives up on it.</summary>
    public int MaxAttempts { get; set; } = 3;

    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Environment facts a launcher fingerprints with instead of its own (e.g. {"device": "cuda"} on a scheduler without a
    /// GPU that starts runs for a GPU pool). Workers refuse nodes whose fingerprint they would compute differently.
    /// </summary>
    public Dictionary<string, string> Facts { get; set; } = [];

    /// <summary>This worker's name in results and logs; default machine-pid.</summary>
    public string? WorkerId { get; set; }

    public string ResolvedWorkerId => WorkerId ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    public DistributedOptions Validate()
    {
        if (!HubName().IsMatch(TaskHub)) throw new ArgumentException($"Worker:Distributed:TaskHub '{TaskHub}' must be 3–45 letters and digits, starting with a letter");
        if (PartitionCount is < 1 or > 16) throw new ArgumentException($"Worker:Distributed:PartitionCount {PartitionCount} must be 1–16");
        if (MaxConcurrentNodes < 1) throw new ArgumentException("Worker:Distributed:MaxConcurrentNodes must be at least 1");
        if (MaxAttempts < 1) throw new ArgumentException("Worker:Distributed:MaxAttempts must be at least 1");
        if (AccountName is { Length: > 0 } account)
        {
            if (!AccountNamePattern().IsMatch(account)) throw new ArgumentException($"Worker:Distributed:AccountName '{account}' must be 3–24 lowercase letters and digits (a storage account name)");
        }
        else if (string.IsNullOrWhiteSpace(ConnectionString)) throw new ArgumentException("Worker:Distributed: set ConnectionString or AccountName");
        return this;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]{2,44}$")]
    private static partial Regex HubName();

    [GeneratedRegex("^[a-z0-9]{3,24}$")]
    private static partial Regex AccountNamePattern();
}

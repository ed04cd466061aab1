namespace Fusion.Artifacts.Blob;

/// <summary>Tuning of a <see cref="BlobArtifactStore"/>; the defaults suit a workstation on a decent link.</summary>
public sealed record BlobStoreOptions
{
    /// <summary>Service endpoint for SAS / token credentials when not https://ACCOUNT.blob.core.windows.net (e.g.
    /// Azurite's http://127.0.0.1:10000/devstoreaccount1). Connection strings carry their own.</summary>
    public Uri? ServiceEndpoint { get; init; }

    /// <summary>Local folder for staging and scratch (default ~/.fusion/azure/ACCOUNT/CONTAINER[/PREFIX]).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Read-through cache folder, content-addressed, shareable between stores (default ~/.fusion/blob-cache).</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Upper bound of the cache; least recently used files are evicted beyond it.</summary>
    public long CacheMaxBytes { get; init; } = 32L << 30;

    /// <summary>Length of a claim's blob lease (15-60 s); it is renewed every third of it while held.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest pause between two attempts to take a claim held elsewhere.</summary>
    public TimeSpan ClaimPollMax { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time limit of one small operation (metadata, manifest, document), per attempt.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Slowest transfer rate tolerated: a file transfer's limit is OperationTimeout + size / this.</summary>
    public double MinTransferBytesPerSecond { get; init; } = 1 << 20;

    /// <summary>Retries (exponential backoff with jitter) of an operation failing transiently.</summary>
    public int MaxRetries { get; init; } = 4;

    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Pauses before resuming a commit, or the removal of a broken artifact before it, that failed because the service
    /// could not be reached (after the per-operation retries): the node's work is done and staged, and a resumed commit
    /// keeps what it already uploaded. Empty: fail.
    /// </summary>
    public IReadOnlyList<TimeSpan> CommitRetryDelays { get; init; } = [TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120)];

    /// <summary>Retries inside the SDK per request; kept low because whole operations are retried above it.</summary>
    public int SdkMaxRetries { get; init; } = 1;

    /// <summary>Block size of partitioned uploads and range size of parallel downloads.</summary>
    public int BlockBytes { get; init; } = 8 << 20;

    /// <summary>Parallel blocks / ranges per file transfer.</summary>
    public int TransferConcurrency { get; init; } = 8;

    /// <summary>Files of one artifact hashed and transferred at once.</summary>
    public int FileConcurrency { get; init; } = 4;

    /// <summary>Creates the container when missing (needs account-level rights; a missing right is ignored).</summary>
    public bool CreateContainer { get; init; } = true;

    /// <summary>Called with (blob name, bytes so far, total bytes) during file uploads and downloads, e.g. for a
    /// progress bar; from several threads at once.</summary>
    public Action<string, long, long>? TransferProgress { get; init; }
}

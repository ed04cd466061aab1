namespace Fusion.Artifacts.Blob;

/// <summary>
/// A blob store operation failed for good (after retries), or was refused (credentials, permissions). The message
/// names the operation, the blob and the service's status and error code; it never carries a secret, and so it has no
/// inner exception (SDK exceptions may quote signed requests).
/// </summary>
public sealed class BlobStoreException(string message, int status = 0, string? errorCode = null, bool transient = false) : IOException(message)
{
    /// <summary>HTTP status of the last failure (0 when the service was not reached).</summary>
    public int Status { get; } = status;

    /// <summary>The service's error code, e.g. "AuthenticationFailed".</summary>
    public string? ErrorCode { get; } = errorCode;

    public bool IsAuthentication => Status is 401 or 403;

    /// <summary>The service could not be reached or kept failing (network, timeouts, 408/429/5xx): worth trying later.</summary>
    public bool IsTransient { get; } = transient;
}

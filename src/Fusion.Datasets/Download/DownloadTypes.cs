namespace Fusion.Datasets.Download;

/// <summary>
/// One file to fetch: its URL, where it goes, and what it must be. <see cref="Sha256"/> (lower-case hex) pins the
/// content; <see cref="ExpectedSize"/> is checked too. <see cref="LocalPath"/> is the offline alternative: a file
/// already on this machine (copied, or used in place when it is the destination) that is verified the same way.
/// </summary>
public sealed record DownloadSource(Uri Url, string Destination)
{
    public long? ExpectedSize { get; init; }
    public string? Sha256 { get; init; }
    public string? LocalPath { get; init; }
    public string Name => Path.GetFileName(Destination);
}

/// <summary>Progress of one file: bytes on disk so far (resumed bytes included), total if known, speed of this attempt.</summary>
public sealed record DownloadProgress(string Name, long Bytes, long? Total, double BytesPerSecond)
{
    public double MegabytesPerSecond => BytesPerSecond / 1e6;
    public TimeSpan? Eta => Total is { } t && BytesPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, t - Bytes) / BytesPerSecond) : null;
}

/// <summary>
/// What happened: the verified file, its size and SHA-256, whether an existing verified file was reused, how many HTTP
/// attempts were made, how many times a finished file failed verification and was fetched again, and from which
/// byte the first attempt resumed an earlier .part file.
/// </summary>
public sealed record DownloadResult(string Path, long Size, string Sha256, bool Reused, int Attempts, int Refetches, long ResumedFrom);

public sealed class DownloadOptions
{
    /// <summary>Retries after the first attempt (each resumes from the .part file).</summary>
    public int MaxRetries { get; init; } = 6;
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>An attempt that receives nothing for this long is abandoned (and retried).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public int BufferSize { get; init; } = 1 << 20;
    /// <summary>Called before each retry with the attempt number, the delay and the reason (for logs).</summary>
    public Action<int, TimeSpan, Exception?>? OnRetry { get; init; }
}

/// <summary>A download that cannot succeed: a permanent HTTP error, or content that fails verification twice.</summary>
public class DownloadException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// A file that is not the pinned one: its size or SHA-256 differ from <see cref="DownloadSource"/>'s pins. The message
/// names the file and both digests (and sizes where they differ).
/// </summary>
public sealed class DigestMismatchException(string subject, string? expectedSha256, string actualSha256, long? expectedSize, long actualSize, string? suffix = null)
    : DownloadException(Describe(subject, expectedSha256, actualSha256, expectedSize, actualSize) + suffix)
{
    public string Subject => subject;
    public string? ExpectedSha256 => expectedSha256;
    public string ActualSha256 => actualSha256;
    public long? ExpectedSize => expectedSize;
    public long ActualSize => actualSize;

    /// <summary>"SUBJECT: SHA-256 a, expected b", with "; size n bytes, expected m" where the sizes differ.</summary>
    public static string Describe(string subject, string? expectedSha256, string actualSha256, long? expectedSize, long actualSize) =>
        $"{subject}: SHA-256 {actualSha256}" + (expectedSha256 is null ? "" : $", expected {expectedSha256}")
        + (expectedSize is { } want && want != actualSize ? $"; size {actualSize} bytes, expected {want}" : "");
}

/// <summary>A server answer worth retrying (5xx, 408, 429).</summary>
public sealed class TransientHttpException(string message, System.Net.HttpStatusCode status) : HttpRequestException(message, null, status);

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;

namespace Fusion.Artifacts.Store;

/// <summary>What a <see cref="FileVerifier"/> has hashed so far: files, bytes and the time it took.</summary>
public readonly record struct HashingTotals(long Files, long Bytes, TimeSpan Elapsed)
{
    public static HashingTotals operator -(HashingTotals a, HashingTotals b) => new(a.Files - b.Files, a.Bytes - b.Bytes, a.Elapsed - b.Elapsed);
}

/// <summary>
/// The SHA-256 of committed files as they are now, for checking them against their manifest before they are used.
/// Each version of a file is hashed once per process: the verifier remembers the hash of every file it read under its
/// <see cref="FileIdentity"/>, and a file whose identity has not changed since is not read again. A file changed within
/// the last <see cref="Settle"/> is not remembered, since a second change within one timestamp tick would leave its
/// identity as it was; it is hashed at each read until it is older.
/// </summary>
public sealed class FileVerifier
{
    /// <summary>The process's verifier: every store of the process shares what it has hashed.</summary>
    public static FileVerifier Shared { get; } = new();

    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, (FileIdentity Identity, string Sha256)> known = new(StringComparer.Ordinal);
    private long files, bytes, ticks;

    public HashingTotals Totals => new(Interlocked.Read(ref files), Interlocked.Read(ref bytes), TimeSpan.FromTicks(Interlocked.Read(ref ticks)));

    /// <summary>The SHA-256 (lower-case hex) of the file at <paramref name="path"/>; null when there is no such file.</summary>
    public async Task<string?> Sha256Async(string path, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        if (FileIdentity.Of(full) is not { } before) return null;
        if (known.TryGetValue(full, out var seen) && seen.Identity == before) return seen.Sha256;

        var clock = Stopwatch.StartNew();
        string sha;
        try { sha = await HashAsync(full, ct); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; } // deleted meanwhile
        Interlocked.Add(ref ticks, clock.Elapsed.Ticks);
        Interlocked.Add(ref bytes, before.Size);
        Interlocked.Increment(ref files);

        // Remembered only when nothing changed while it was read and the last change is older than a timestamp tick.
        if (FileIdentity.Of(full) == before && before.LastChange < DateTimeOffset.UtcNow - Settle) known[full] = (before, sha);
        else known.TryRemove(full, out _);
        return sha;
    }

    /// <summary>Hashes <paramref name="path"/> through, whatever is known of it.</summary>
    public static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }
}

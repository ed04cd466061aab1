using System.Runtime.InteropServices;
using Fusion.Artifacts.Store;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// Local read-through cache of remote files, content-addressed: <c>ROOT/objects/AB/SHA256/NAME</c>. An entry is
/// filled through a temporary file, verified (size and SHA-256) and only then moved into place, so every entry present
/// is whole and correct. Entries are read-only; a hit refreshes the entry's last-access time (set explicitly, since
/// file systems are often mounted noatime) and the least recently used entries are evicted beyond the size bound.
/// A path handed out may be evicted later by another process filling the cache; use it soon after asking.
/// </summary>
public sealed class ContentCache(string root, long maxBytes)
{
    public string Root { get; } = Path.GetFullPath(root);
    public long MaxBytes { get; } = maxBytes;
    private string Objects => Path.Combine(Root, "objects");
    private static readonly UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>The entry path of a file (whether or not it is present).</summary>
    public string EntryPath(ArtifactFile file) =>
        Path.Combine(Objects, file.Sha256[..2], file.Sha256, Path.GetFileName(file.Name.Replace('/', Path.DirectorySeparatorChar)));

    /// <summary>The entry's path when present (refreshing its last access), else null.</summary>
    public string? TryGet(ArtifactFile file)
    {
        var path = EntryPath(file);
        var info = new FileInfo(path);
        if (!info.Exists || info.Length != file.Size) return null;
        try { File.SetLastAccessTimeUtc(path, DateTime.UtcNow); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return path;
    }

    /// <summary>
    /// Fills the entry of <paramref name="file"/> by letting <paramref name="download"/> write a temporary file (and
    /// return the SHA-256 of what it wrote, hashed on the way), verifies it, moves it into place and evicts beyond the
    /// bound. Throws <see cref="ArtifactCorruptException"/> (naming <paramref name="what"/>) when the bytes differ from
    /// the manifest.
    /// </summary>
    public async Task<string> FillAsync(ArtifactFile file, string what, Func<string, CancellationToken, Task<string>> download, CancellationToken ct)
    {
        var tmpDir = Directory.CreateDirectory(Path.Combine(Root, "tmp")).FullName;
        var tmp = Path.Combine(tmpDir, Guid.NewGuid().ToString("N"));
        var path = EntryPath(file);
        try
        {
            var sha = await download(tmp, ct).ConfigureAwait(false);
            var size = new FileInfo(tmp).Length;
            if (size != file.Size)
                throw new ArtifactCorruptException($"{what}: {size} bytes, the manifest says {file.Size}");
            if (sha != file.Sha256)
                throw new ArtifactCorruptException($"{what}: SHA-256 {sha}, the manifest says {file.Sha256}");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, ReadOnly);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            try { File.Move(tmp, path, overwrite: false); }
            catch (IOException) when (File.Exists(path)) { } // filled concurrently by someone else: same bytes
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        File.SetLastAccessTimeUtc(path, DateTime.UtcNow);
        Evict(keep: path);
        return path;
    }

    /// <summary>
    /// Takes <paramref name="path"/>, a local file holding <paramref name="file"/>'s bytes (a just-committed staging
    /// file, hashed on its way up), into the cache by renaming it: the machine that wrote an artifact then reads it
    /// without downloading it, and the commit does not pay for deleting a large file. Only a rename within one file
    /// system is tried (never a copy); returns false when it is not possible, leaving the file where it is. Call
    /// <see cref="Evict"/> afterwards.
    /// </summary>
    public bool Adopt(ArtifactFile file, string path)
    {
        if (file.Size > MaxBytes || OperatingSystem.IsWindows()) return false;
        var entry = EntryPath(file);
        Directory.CreateDirectory(Path.GetDirectoryName(entry)!);
        File.SetUnixFileMode(path, ReadOnly);
        if (Rename(path, entry) != 0) return false; // EXDEV: the cache is on another file system
        File.SetLastAccessTimeUtc(entry, DateTime.UtcNow);
        return true;
    }

    /// <summary>
    /// Deletes the damaged entry at <paramref name="path"/> so that it is filled again; throws
    /// <see cref="ArtifactCorruptException"/> with <paramref name="problem"/> when it cannot be deleted (a fill would keep it).
    /// </summary>
    public void Discard(string path, string problem)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArtifactCorruptException($"{problem}, and it cannot be deleted ({path}: {e.Message})");
        }
    }

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string from, string to);

    /// <summary>Deletes least recently used entries until the cache fits its bound (never <paramref name="keep"/>).</summary>
    public void Evict(string? keep = null)
    {
        if (!Directory.Exists(Objects)) return;
        var entries = new DirectoryInfo(Objects).EnumerateFiles("*", SearchOption.AllDirectories).ToList();
        var total = entries.Sum(f => f.Length);
        foreach (var f in entries.OrderBy(f => f.LastAccessTimeUtc))
        {
            if (total <= MaxBytes) break;
            if (f.FullName == keep) continue;
            var length = f.Length;
            try
            {
                f.Delete();
                total -= length;
                if (f.Directory is { } d && !d.EnumerateFileSystemInfos().Any()) d.Delete();
            }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

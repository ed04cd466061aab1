using Fusion.Datasets.Download;
using Fusion.Reproduction.Coco;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Weights;

/// <summary>
/// Fills the null fields of the weights lock, which pins the files: a Hub file's revision is the commit 'main' names
/// now (or the commit already written there), its size and SHA-256 are the Hub's LFS record at that commit; a file
/// without one (a small git file, a file at a plain URL) is downloaded once and hashed. Fields already known are kept
/// and must agree with what the source says. The lock is then written back, for the user to commit.
/// </summary>
public sealed class WeightsPinner(HubSettings hub, HttpClient http, ILogger logger)
{
    /// <summary>Pins what <paramref name="components"/> need in the lock at <paramref name="lockPath"/>; returns the entries it filled.</summary>
    public async Task<IReadOnlyList<LockedFile>> PinAsync(string lockPath, IEnumerable<PretrainedComponent> components, CancellationToken ct)
    {
        var weightsLock = WeightsLock.Read(lockPath);
        var filled = new List<LockedFile>();
        foreach (var component in components.Distinct())
        {
            var entries = weightsLock.EntriesFor(component);
            if (entries.All(e => e.IsPinned)) continue;
            var pinned = await PinEntriesAsync(entries, ct);
            filled.AddRange(pinned.Where((e, i) => e != entries[i]));
            weightsLock = weightsLock.With(pinned);
            weightsLock.Write(lockPath); // each component as it is done: an interrupted pinning keeps what it learnt
        }
        return filled;
    }

    /// <summary>One component's entries, each pinned (the Hub files at one commit); those already pinned are returned as they are.</summary>
    public async Task<IReadOnlyList<LockedFile>> PinEntriesAsync(IReadOnlyList<LockedFile> entries, CancellationToken ct)
    {
        var api = new HubApi(hub, http);
        string? commit = entries.Select(e => e.Revision).OfType<string>().FirstOrDefault();
        var folders = new Dictionary<string, IReadOnlyDictionary<string, HubFile>>(StringComparer.Ordinal);
        var result = new List<LockedFile>();
        foreach (var e in entries)
        {
            if (e.IsPinned) { result.Add(e); continue; }
            if (!e.IsHub) { result.Add(await PinUrlFileAsync(e, ct)); continue; }
            commit ??= await api.CommitAsync(e.Repo!, "main", ct);
            var folder = Path.GetDirectoryName(e.File)?.Replace('\\', '/') ?? "";
            if (!folders.TryGetValue(folder, out var listing)) folders[folder] = listing = await api.FolderAsync(e.Repo!, commit, folder, ct);
            if (!listing.TryGetValue(e.File, out var file)) throw new HttpRequestException($"{e.Repo} has no file {e.File} at commit {commit}");
            var (sha, size) = file.Sha256 is { } lfs ? (lfs, file.Size) : await HashAsync(hub.FileUrl(e.Repo!, commit, e.File), e, ct);
            result.Add(Checked(e with { Revision = commit, Url = HubSettings.CanonicalUrl(e.Repo!, commit, e.File) }, sha, size, $"{e.Repo} at {commit}"));
        }
        return result;
    }

    private async Task<LockedFile> PinUrlFileAsync(LockedFile e, CancellationToken ct)
    {
        var (sha, size) = await HashAsync(new Uri(e.Url!), e, ct);
        return Checked(e, sha, size, e.Url!);
    }

    /// <summary>The entry with the source's digest and size, which must agree with what the lock already knew.</summary>
    private static LockedFile Checked(LockedFile e, string sha, long size, string source)
    {
        var expected = e.Sha256 ?? (e.Sha256Prefix is { } prefix && !sha.StartsWith(prefix, StringComparison.Ordinal) ? prefix + "…" : null);
        if ((expected is not null && expected != sha) || (e.Size is { } want && want != size))
            throw new WeightsMismatchException(e, source, new DigestMismatchException(source, expected, sha, e.Size, size));
        return e with { Sha256 = sha, Size = size };
    }

    /// <summary>Downloads the file once into a temporary folder to compute its SHA-256 (no source publishes it).</summary>
    private async Task<(string Sha256, long Size)> HashAsync(Uri url, LockedFile e, CancellationToken ct)
    {
        logger.LogInformation("pinning {File}: downloading {Url} to compute its SHA-256", e.Key, url);
        var folder = Directory.CreateTempSubdirectory("fusion-pin-");
        try
        {
            var result = await new HttpDownloader(http).DownloadAsync(new DownloadSource(url, Path.Combine(folder.FullName, Path.GetFileName(e.File))), null, ct);
            return (result.Sha256, result.Size);
        }
        finally { folder.Delete(recursive: true); }
    }
}

using Fusion.Datasets.Download;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Weights;

/// <summary>
/// One <c>fetch-weights</c> node's files, each from the first source that applies — <c>local_path</c>, a mirror
/// (<c>url</c>, <c>base_url</c>), the huggingface_hub cache's snapshot of the pinned commit, the pinned URL — and
/// checked against its lock entry. A Hub file is only ever fetched at its pinned commit.
/// </summary>
public sealed class PinnedFetch(StageContext context, FetchWeightsParams p, HubSettings hub, HttpDownloader downloader)
{
    public async Task<FetchedFile> FetchAsync(LockedFile entry, CancellationToken ct)
    {
        if (!entry.IsPinned && !p.AllowUnpinned)
            throw new InvalidDataException($"{entry.Key} is not pinned in {WeightsLock.FileName} ({Missing(entry)} unknown): `fusion run` pins it where the source " +
                "can be reached (then commit the lock), or set allow_unpinned: true to take the file unchecked");
        var check = new DownloadSource(new Uri("file:///"), Path.Combine(context.ScratchDirectory, entry.File))
        {
            Sha256 = p.AllowUnpinned ? null : entry.Sha256,
            ExpectedSize = p.AllowUnpinned ? null : entry.Size,
        };
        DownloadResult result;
        string origin;
        if (LocalFile(entry) is { } local)
            (result, origin) = (await FromAsync(entry, check with { LocalPath = local }, local, ct), local);
        else if (Mirror(entry) is { } mirror)
            (result, origin) = (await FromAsync(entry, check with { Url = mirror }, mirror.ToString(), ct), mirror.ToString());
        else
        {
            var url = PinnedUrl(entry);
            var cached = entry.IsHub && entry.Revision is { } rev ? hub.CachedFile(entry.Repo!, rev, entry.File) : null;
            (result, origin) = cached is not null && await FromCacheAsync(entry, check with { LocalPath = cached }, cached, ct) is { } fromCache
                ? (fromCache, cached)
                : (await FromAsync(entry, check with { Url = url }, url.ToString(), ct), url.ToString());
        }
        File.Move(result.Path, context.OutputPath(PretrainedComponents.ArtifactPath(entry.File)));
        var pinned = entry.Sha256 == result.Sha256 && entry.Size == result.Size && entry.IsPinned;
        if (!pinned)
            context.Logger.LogWarning("fetch-weights {Node}: {File} from {Origin} is not the pinned file (SHA-256 {Sha}, lock {Pin}); taken because allow_unpinned is true",
                context.NodeId, entry.Key, origin, result.Sha256, entry.Sha256 ?? "unknown");
        return new FetchedFile(entry.File, origin, pinned ? entry.Revision : null, result.Size, result.Sha256, pinned);
    }

    private static string Missing(LockedFile e) =>
        string.Join(", ", new[] { e.IsHub && e.Revision is null ? "revision" : null, e.Size is null ? "size" : null, e.Sha256 is null ? "sha256" : null }.OfType<string>());

    private string? LocalFile(LockedFile entry) =>
        p.LocalPath is not { } lp ? null : Directory.Exists(lp) ? Path.Combine(lp, entry.File) : lp;

    private Uri? Mirror(LockedFile entry) =>
        p.Url is { } u ? new Uri(u) : p.BaseUrl is { } b ? new Uri(new Uri(b.EndsWith('/') ? b : b + "/"), entry.File) : null;

    /// <summary>The source at the pinned commit (on HF_ENDPOINT for a Hub file): never a branch.</summary>
    private Uri PinnedUrl(LockedFile entry)
    {
        if (!entry.IsHub) return new Uri(entry.Url!);
        return entry.Revision is { } rev ? hub.FileUrl(entry.Repo!, rev, entry.File)
            : throw new InvalidDataException($"{entry.Key}: {WeightsLock.FileName} pins no commit of {entry.Repo}, and files are never fetched at a branch: " +
                "`fusion run` pins one where the Hub can be reached, or give local_path");
    }

    private async Task<DownloadResult> FromAsync(LockedFile entry, DownloadSource source, string origin, CancellationToken ct)
    {
        var progress = new Progress<DownloadProgress>(d => context.Progress.Report(d.Bytes, d.Total ?? Math.Max(d.Bytes, 1), "byte"));
        try { return await downloader.DownloadAsync(source, progress, ct); }
        catch (DigestMismatchException e) { throw new WeightsMismatchException(entry, origin, e); }
    }

    /// <summary>The cached copy, or null (logged) when it is not the pinned file: then the download replaces it.</summary>
    private async Task<DownloadResult?> FromCacheAsync(LockedFile entry, DownloadSource source, string cached, CancellationToken ct)
    {
        try { return await downloader.DownloadAsync(source, null, ct); }
        catch (DigestMismatchException e)
        {
            context.Logger.LogWarning("fetch-weights {Node}: the huggingface_hub cache's {File} is not the pinned file ({Why}); downloading it", context.NodeId, cached, e.Message);
            return null;
        }
    }
}

using System.Net;
using System.Text.Json;

namespace Fusion.Reproduction.Weights;

/// <summary>A file of a Hub repository at a commit: its size and, for an LFS file, the SHA-256 the Hub records for it.</summary>
public sealed record HubFile(string Path, long Size, string? Sha256);

/// <summary>
/// The two Hub API calls pinning needs: which commit a revision names (<c>GET api/models/REPO/revision/REV</c>, its
/// <c>sha</c>), and the files of a folder at a commit (<c>GET api/models/REPO/tree/COMMIT[/FOLDER]</c>: <c>path</c>,
/// <c>size</c>, and for LFS files <c>lfs.oid</c> = SHA-256 and <c>lfs.size</c>).
/// </summary>
public sealed class HubApi(HubSettings hub, HttpClient http)
{
    /// <summary>The commit <paramref name="revision"/> (a branch, tag or commit) names now.</summary>
    public async Task<string> CommitAsync(string repo, string revision, CancellationToken ct)
    {
        var url = hub.ApiUrl($"models/{repo}/revision/{Uri.EscapeDataString(revision)}");
        using var doc = await GetJsonAsync(url, ct);
        var sha = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("sha", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        return LockedFile.IsCommit(sha) ? sha! : throw new HttpRequestException($"{url}: the answer names no commit (\"sha\": {sha ?? "missing"})");
    }

    /// <summary>The files (not folders) directly in <paramref name="folder"/> ("" for the root) at <paramref name="commit"/>, by path.</summary>
    public async Task<IReadOnlyDictionary<string, HubFile>> FolderAsync(string repo, string commit, string folder, CancellationToken ct)
    {
        var url = hub.ApiUrl($"models/{repo}/tree/{commit}" + (folder.Length > 0 ? "/" + folder : ""));
        using var doc = await GetJsonAsync(url, ct);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new HttpRequestException($"{url}: expected a list of files");
        var files = new Dictionary<string, HubFile>(StringComparer.Ordinal);
        try
        {
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.TryGetProperty("type", out var type) && type.GetString() != "file") continue;
                var path = e.GetProperty("path").GetString()!;
                files[path] = e.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object
                    ? new HubFile(path, lfs.GetProperty("size").GetInt64(), lfs.GetProperty("oid").GetString()!.ToLowerInvariant())
                    : new HubFile(path, e.GetProperty("size").GetInt64(), null);
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new HttpRequestException($"{url}: a file entry lacks path, size or lfs.oid ({e.Message})");
        }
        return files;
    }

    private async Task<JsonDocument> GetJsonAsync(Uri url, CancellationToken ct)
    {
        using var response = await http.GetAsync(url, ct);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new HttpRequestException($"{url}: HTTP {(int)response.StatusCode}: the Hub refused access" +
                (hub.HasToken ? " with the token given (HF_TOKEN): check that it may read this repository" : "; a gated or private repository needs a token in HF_TOKEN"), null, response.StatusCode);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        try { return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct); }
        catch (JsonException e) { throw new HttpRequestException($"{url}: not a Hub API answer ({e.Message})"); }
    }
}

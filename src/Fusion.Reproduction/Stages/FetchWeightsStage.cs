using System.Text.Json;
using Fusion.Datasets.Download;
using Fusion.Reproduction.Coco;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Stages;

public sealed class FetchWeightsParams
{
    public PretrainedComponent Component { get; set; } = PretrainedComponent.ClipVitLargePatch14;
    /// <summary>Offline machines: a file (single-file components) or a folder holding the component's files by name.</summary>
    public string? LocalPath { get; set; }
    /// <summary>Replaces the published URL of a single-file component (mirrors, tests).</summary>
    public string? Url { get; set; }
    /// <summary>Replaces the base URL (ending in '/') of a multi-file component; file names are appended.</summary>
    public string? BaseUrl { get; set; }
    /// <summary>Pinned digests "file=sha256" overriding the catalogue's (none are pinned there yet).</summary>
    public List<string> Sha256 { get; set; } = [];
    /// <summary>
    /// "key=value" architecture of a checkpoint other than the published one (openai CLIP keys such as transformer_width,
    /// LDM ddconfig keys such as ch_mult); empty = the published architecture (ViT-L/14, KL-f8).
    /// </summary>
    public List<string> Hyperparameters { get; set; } = [];
}

/// <summary>Per-file record of a fetched component (<c>component.json</c>).</summary>
public sealed record FetchedFile(string Name, string Source, long Size, string Sha256, bool Pinned);

/// <summary>
/// Downloads one pretrained component's published files (resumable, retried, verified against pinned SHA-256 where one
/// is known; otherwise the digest of the first download is recorded in <c>component.json</c> and logged) into
/// <c>files/</c>. Partial downloads live in scratch, so an interrupted node resumes by HTTP range.
/// </summary>
public sealed class FetchWeightsStage : StageKind<FetchWeightsParams>
{
    public const string RecordFile = "component.json";

    public override string Name => "fetch-weights";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["files/", RecordFile];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, FetchWeightsParams p)
    {
        var ct = context.CancellationToken;
        var pins = KeyValues(p.Sha256, "sha256");
        Uri UrlOf(ComponentFile f) =>
            p.Url is { } u ? new Uri(u) : p.BaseUrl is { } b ? new Uri(new Uri(b.EndsWith('/') ? b : b + "/"), f.Name) : f.Url;
        var files = PretrainedComponents.Files(p.Component)
            .Select(f => f with { Url = UrlOf(f), Sha256 = pins.TryGetValue(f.Name, out var pin) ? pin.ToLowerInvariant() : f.Sha256 }).ToList();
        if (p.Url is not null && files.Count > 1)
            throw new ArgumentException($"fetch-weights {p.Component}: 'url' replaces a single file, but this component has {files.Count}; use 'base_url'");
        foreach (var name in pins.Keys.Where(k => files.All(f => f.Name != k)))
            throw new ArgumentException($"fetch-weights {p.Component}: sha256 pin for unknown file '{name}' (files: {string.Join(", ", files.Select(f => f.Name))})");

        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var downloader = new HttpDownloader(http, new DownloadOptions
        {
            OnRetry = (attempt, delay, e) => context.Logger.LogWarning("fetch-weights {Node}: retry {Attempt} in {Delay}: {Error}", context.NodeId, attempt, delay, e?.Message),
        });
        var records = new List<FetchedFile>();
        for (var i = 0; i < files.Count; i++)
        {
            var f = files[i];
            string? local = null;
            if (p.LocalPath is { } lp)
                local = Directory.Exists(lp) ? Path.Combine(lp, f.Name)
                    : files.Count == 1 ? lp : throw new ArgumentException($"local_path '{lp}' must be a folder holding {string.Join(", ", files.Select(x => x.Name))}");
            var scratch = Path.Combine(context.ScratchDirectory, f.Name);
            var progress = new Progress<DownloadProgress>(d => context.Progress.Report(d.Bytes, d.Total ?? Math.Max(d.Bytes, 1), "byte"));
            var result = await downloader.DownloadAsync(new DownloadSource(f.Url, scratch) { Sha256 = f.Sha256, LocalPath = local }, progress, ct);
            File.Move(result.Path, context.OutputPath(PretrainedComponents.ArtifactPath(f.Name)));
            if (f.Sha256 is null)
                context.Logger.LogWarning("fetch-weights {Node}: no SHA-256 is pinned for {File}; recorded the downloaded file's: {Sha}", context.NodeId, f.Name, result.Sha256);
            records.Add(new FetchedFile(f.Name, local ?? f.Url.ToString(), result.Size, result.Sha256, f.Sha256 is not null));
            context.Summary[$"sha256.{f.Name}"] = result.Sha256;
        }
        await File.WriteAllTextAsync(context.OutputPath(RecordFile),
            JsonSerializer.Serialize(new { component = p.Component.ToString(), files = records, hyperparameters = KeyValues(p.Hyperparameters, "hyperparameters") }, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }), ct);
        context.Summary["files"] = records.Count.ToString();
    }

    private static SortedDictionary<string, string> KeyValues(IEnumerable<string> entries, string param) =>
        new(entries.Select(e => e.Split('=', 2)).ToDictionary(
            kv => kv.Length == 2 ? kv[0].Trim() : throw new ArgumentException($"{param} entry '{kv[0]}' is not 'key=value'"), kv => kv[1].Trim()), StringComparer.Ordinal);

    /// <summary>Local path of one file of a fetched component.</summary>
    public static Task<string> PathAsync(InputArtifact weights, string fileName, CancellationToken ct) =>
        weights.GetPathAsync(PretrainedComponents.ArtifactPath(fileName), ct);
}

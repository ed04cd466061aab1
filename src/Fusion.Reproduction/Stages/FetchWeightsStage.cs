using System.Text.Json;
using Fusion.Datasets.Download;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Weights;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Stages;

public sealed class FetchWeightsParams
{
    public PretrainedComponent Component { get; set; } = PretrainedComponent.ClipVitLargePatch14;
    /// <summary>Offline machines: a file (single-file components) or a folder holding the component's files by name; checked against the weights lock.</summary>
    public string? LocalPath { get; set; }
    /// <summary>Replaces the source of a single-file component (a mirror); what it serves is checked against the weights lock.</summary>
    public string? Url { get; set; }
    /// <summary>Replaces the base URL (ending in '/') of a multi-file component; file names are appended.</summary>
    public string? BaseUrl { get; set; }
    /// <summary>
    /// Accept files that differ from the weights lock, or that it does not pin yet (weights of one's own, tests). A param,
    /// so the choice is part of the fingerprint; what was accepted is recorded in component.json.
    /// </summary>
    public bool AllowUnpinned { get; set; }
    /// <summary>This component's entries of weights.lock.json (JSON), set when the pipeline loads; never set by hand.</summary>
    public string? Lock { get; set; }
    /// <summary>
    /// "key=value" architecture of a checkpoint other than the published one (openai CLIP keys such as transformer_width,
    /// LDM ddconfig keys such as ch_mult); empty = the published architecture (ViT-L/14, KL-f8).
    /// </summary>
    public List<string> Hyperparameters { get; set; } = [];
}

/// <summary>Per-file record of a fetched component (<c>component.json</c>); <see cref="Pinned"/>: the file is the one the lock pins.</summary>
public sealed record FetchedFile(string Name, string Source, string? Revision, long Size, string Sha256, bool Pinned);

/// <summary>
/// Fetches one pretrained component's files into <c>files/</c>, each checked against the weights lock
/// (<c>weights.lock.json</c> beside the pipeline, see <see cref="WeightsLock"/>): from <c>local_path</c>, a mirror, the
/// huggingface_hub cache or the source, always at the pinned commit. A file that differs stops the node (exit 3) unless
/// <c>allow_unpinned</c>. Downloads resume from scratch by HTTP range after an interruption.
/// </summary>
public sealed class FetchWeightsStage : StageKind<FetchWeightsParams>, ILockedParams
{
    public const string RecordFile = "component.json";

    public const string KindName = "fetch-weights";

    public override string Name => KindName;
    public override string CodeVersion => "2";
    public override IReadOnlyList<string> Outputs => ["files/", RecordFile];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public void Complete(IDictionary<string, string> canonicalParams, string pipelineFolder)
    {
        if (canonicalParams.TryGetValue("lock", out var set) && set != "null")
            throw new FormatException($"param 'lock' comes from {WeightsLock.FileName} beside the pipeline; pin files there");
        var p = Params.Bind<FetchWeightsParams>(new Dictionary<string, string>(canonicalParams));
        var entries = WeightsLock.Read(Path.Combine(pipelineFolder, WeightsLock.FileName)).EntriesFor(p.Component);
        canonicalParams["lock"] = ParamSchema.Canonical(System.Text.Json.Nodes.JsonValue.Create(WeightsLock.ToParam(entries)));
    }

    public override async Task RunAsync(StageContext context, FetchWeightsParams p)
    {
        var entries = WeightsLock.FromParam(p.Lock ?? throw new InvalidDataException($"fetch-weights {context.NodeId}: no 'lock' param; load the pipeline with PipelineLoader"));
        if (p.Url is not null && entries.Count > 1)
            throw new ArgumentException($"fetch-weights {p.Component}: 'url' replaces a single file, but this component has {entries.Count}; use 'base_url'");
        if (p.LocalPath is { } lp && !Directory.Exists(lp) && entries.Count > 1)
            throw new ArgumentException($"local_path '{lp}' must be a folder holding {string.Join(", ", entries.Select(x => x.File))}");
        var hub = HubSettings.FromEnvironment();
        using var http = hub.CreateClient();
        var fetcher = new PinnedFetch(context, p, hub, new HttpDownloader(http, new DownloadOptions
        {
            OnRetry = (attempt, delay, e) => context.Logger.LogWarning("fetch-weights {Node}: retry {Attempt} in {Delay}: {Error}", context.NodeId, attempt, delay, e?.Message),
        }));
        var records = new List<FetchedFile>();
        foreach (var entry in entries)
        {
            var record = await fetcher.FetchAsync(entry, context.CancellationToken);
            records.Add(record);
            context.Summary[$"sha256.{record.Name}"] = record.Sha256;
            if (record.Revision is not null) context.Summary[$"revision.{record.Name}"] = record.Revision;
        }
        var json = JsonSerializer.Serialize(new { component = PretrainedComponents.Key(p.Component), files = records, hyperparameters = KeyValues(p.Hyperparameters, "hyperparameters") },
            new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });
        await File.WriteAllTextAsync(context.OutputPath(RecordFile), json, context.CancellationToken);
        context.Summary["files"] = records.Count.ToString();
    }

    private static SortedDictionary<string, string> KeyValues(IEnumerable<string> entries, string param) =>
        new(entries.Select(e => e.Split('=', 2)).ToDictionary(
            kv => kv.Length == 2 ? kv[0].Trim() : throw new ArgumentException($"{param} entry '{kv[0]}' is not 'key=value'"), kv => kv[1].Trim()), StringComparer.Ordinal);
}

using Fusion.Reproduction.Stages;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Reproduction.Weights;

/// <summary>What pinning wrote into one lock file.</summary>
public sealed record PinnedLock(string LockPath, IReadOnlyList<LockedFile> Filled);

/// <summary>
/// Pins, before a run plans, the weights its <c>fetch-weights</c> nodes need and their lock does not pin yet, so the
/// nodes' fingerprints hold the commit and digest from the first run on. A node that takes its files unchecked from
/// elsewhere (<c>allow_unpinned</c> with <c>local_path</c>, <c>url</c> or <c>base_url</c>) needs no pin.
/// </summary>
public static class WeightsPinning
{
    /// <returns>Per lock file, the entries it filled: where there are any, load the pipeline again so its nodes carry them.</returns>
    public static async Task<IReadOnlyList<PinnedLock>> PinAsync(Pipeline pipeline, IReadOnlySet<string> nodeIds, ILogger logger, CancellationToken ct)
    {
        var schema = ParamSchema.For<FetchWeightsParams>();
        var needed = new Dictionary<string, HashSet<Coco.PretrainedComponent>>(StringComparer.Ordinal);
        foreach (var node in pipeline.Nodes.Where(n => n.Kind == FetchWeightsStage.KindName && nodeIds.Contains(n.Id)))
        {
            var p = schema.Bind<FetchWeightsParams>(node.Params);
            if ((p.AllowUnpinned && (p.LocalPath ?? p.Url ?? p.BaseUrl) is not null) || WeightsLock.FromParam(p.Lock!).All(e => e.IsPinned)) continue;
            var lockPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(node.Location.File)) ?? ".", WeightsLock.FileName);
            (needed.TryGetValue(lockPath, out var set) ? set : needed[lockPath] = []).Add(p.Component);
        }
        if (needed.Count == 0) return [];
        var hub = HubSettings.FromEnvironment();
        using var http = hub.CreateClient();
        var pinner = new WeightsPinner(hub, http, logger);
        var result = new List<PinnedLock>();
        foreach (var (lockPath, components) in needed)
            result.Add(new PinnedLock(lockPath, await pinner.PinAsync(lockPath, components.Order(), ct)));
        return result;
    }
}

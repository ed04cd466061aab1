using Fusion.Worker.Runs;
using Fusion.Workflow.Pipelines;

namespace Fusion.Worker.Regression;

/// <summary>
/// A run's metrics with the seed axis folded: <c>evaluate[v/seed=2].fid</c> is one replicate of <c>evaluate[v].fid</c>.
/// A pipeline that trains each variant under several seeds thus measures its own seed-to-seed spread, which blessing
/// stores and checking uses (a run's value is the mean of its seeds). Metrics without a seed are one replicate.
/// </summary>
public static class SeedPooling
{
    public sealed record Pooled(string Unit, IReadOnlyList<double> Values)
    {
        public double Mean => MetricSpread.Of(Values).Mean;
    }

    public static SortedDictionary<string, Pooled> Pool(IReadOnlyDictionary<string, MetricValue> metrics)
    {
        var pooled = new SortedDictionary<string, (string Unit, List<double> Values)>(StringComparer.Ordinal);
        foreach (var (key, value) in metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var name = Unseeded(key);
            if (!pooled.TryGetValue(name, out var entry)) pooled[name] = entry = (value.Unit, []);
            else if (entry.Unit != value.Unit)
                throw new InvalidOperationException($"metric '{key}' is in '{value.Unit}' but another seed of '{name}' is in '{entry.Unit}'");
            entry.Values.Add(value.Value);
        }
        return new(pooled.ToDictionary(kv => kv.Key, kv => new Pooled(kv.Value.Unit, kv.Value.Values), StringComparer.Ordinal), StringComparer.Ordinal);
    }

    /// <summary>"evaluate[v/seed=2].fid" → "evaluate[v].fid"; "evaluate[seed=2].fid" → "evaluate.fid"; others unchanged.</summary>
    public static string Unseeded(string metric)
    {
        var close = metric.LastIndexOf(']');
        var open = close < 0 ? -1 : metric.LastIndexOf('[', close);
        if (open < 0) return metric;
        var (variant, seed) = SeedAxis.Split(metric[(open + 1)..close]);
        if (seed is null) return metric;
        return metric[..open] + (variant is null ? "" : $"[{variant}]") + metric[(close + 1)..];
    }
}

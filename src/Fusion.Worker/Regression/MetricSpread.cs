namespace Fusion.Worker.Regression;

/// <summary>
/// The seed-to-seed spread of one baseline metric over its <see cref="N"/> replicates (each seed of each blessed run):
/// <see cref="Values"/> in the order of <see cref="Baseline.Runs"/> (seeds in order within a run), and their sample
/// standard deviation (n − 1); <see cref="Sd"/> is null for a single replicate (no spread measured).
/// </summary>
public sealed record MetricSpread(double? Sd, int N, IReadOnlyList<double> Values)
{
    /// <summary>Mean and sample standard deviation of <paramref name="values"/>. Summed as offsets from the first value,
    /// so that equal values (a metric the seed does not move) give exactly that value and a spread of exactly 0.</summary>
    public static (double Mean, MetricSpread Spread) Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("a spread needs at least one value", nameof(values));
        var mean = values[0] + values.Sum(v => v - values[0]) / values.Count;
        double? sd = values.Count < 2 ? null : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return (mean, new MetricSpread(sd, values.Count, values));
    }
}

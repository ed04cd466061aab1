using System.Globalization;

namespace Fusion.Worker.Regression;

/// <summary>Which way a metric improves: FID lower, CLIP score and throughput higher; Either = any change beyond tolerance fails.</summary>
public enum Better { Lower, Higher, Either }

/// <summary>
/// Tolerance of one metric: a change from the baseline mean in the bad direction fails when it exceeds
/// <c>max(Absolute, Relative · |mean|, Spreads · sd · √(1/m + 1/n))</c>, where sd is the sample standard deviation of the
/// baseline's n replicates (seeds × blessed runs) and m the run's own seed count: the mean of m new seeds is compared
/// with a mean of n, and their difference has variance sd²/m + sd²/n. With n &lt; 2 there is no sd and the spread term
/// drops out (the check row says so).
/// </summary>
public sealed class MetricRule
{
    public Better Better { get; set; } = Better.Either;
    public double Absolute { get; set; }
    public double Relative { get; set; }

    /// <summary>How many (standard-error-corrected) seed-to-seed standard deviations a run may move; 0 = not used.</summary>
    public double Spreads { get; set; }

    public Tolerance For(double mean, MetricSpread spread, int replicates = 1)
    {
        var terms = new List<(double Value, string Basis)> { (Absolute, "absolute"), (Relative * Math.Abs(mean), $"{Inv(100 * Relative)}% relative") };
        var noSpread = Spreads > 0 && spread.Sd is null;
        if (Spreads > 0 && spread.Sd is { } sd)
            terms.Add((Spreads * sd * Math.Sqrt(1.0 / replicates + 1.0 / spread.N), $"{Inv(Spreads)} sd·√({(replicates == 1 ? "1" : $"1/{replicates}")}+1/{spread.N})"));
        var (allowed, basis) = terms.MaxBy(t => t.Value);
        return new Tolerance(allowed, basis, noSpread);
    }

    private static string Inv(double x) => x.ToString("G4", CultureInfo.InvariantCulture);
}

/// <summary>
/// <c>Worker:Regression</c>: per-metric rules keyed by metric name or a pattern with '*' (e.g. "fid*"); the most
/// specific match wins (exact, then the longest pattern), then <see cref="Default"/>. A metric without any rule
/// cannot be checked and fails the check.
/// </summary>
public sealed class RegressionOptions
{
    public Dictionary<string, MetricRule> Metrics { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public MetricRule? Default { get; set; }

    /// <summary>Metric names or '*' patterns that are not regression metrics (e.g. "train*" losses): never checked.</summary>
    public List<string> Ignore { get; set; } = [];

    public bool Ignored(string metric) => Ignore.Any(p => p.Contains('*') ? Matches(p, metric) : string.Equals(p, metric, StringComparison.OrdinalIgnoreCase));

    /// <summary>Local folder that also receives each report (besides the document store); optional.</summary>
    public string? ReportDirectory { get; set; }

    public WebhookOptions Webhook { get; set; } = new();

    public MetricRule? RuleFor(string metric)
    {
        if (Metrics.TryGetValue(metric, out var exact)) return exact;
        return Metrics.Where(kv => kv.Key.Contains('*') && Matches(kv.Key, metric))
                      .OrderByDescending(kv => kv.Key.Length).Select(kv => kv.Value).FirstOrDefault() ?? Default;
    }

    /// <summary>Metrics named exactly by a rule: required in every run and baseline.</summary>
    public IEnumerable<string> RequiredMetrics => Metrics.Keys.Where(k => !k.Contains('*'));

    private static bool Matches(string pattern, string name)
    {
        var parts = pattern.Split('*');
        if (!name.StartsWith(parts[0], StringComparison.OrdinalIgnoreCase)) return false;
        var at = parts[0].Length;
        for (var i = 1; i < parts.Length; i++)
        {
            if (i == parts.Length - 1)
                return name.Length - at >= parts[i].Length && name.EndsWith(parts[i], StringComparison.OrdinalIgnoreCase);
            var found = name.IndexOf(parts[i], at, StringComparison.OrdinalIgnoreCase);
            if (found < 0) return false;
            at = found + parts[i].Length;
        }
        return true;
    }
}

/// <summary><c>Worker:Regression:Webhook</c>: where to post each verdict (Slack/Teams-style JSON with a "text" field).</summary>
public sealed class WebhookOptions
{
    public string? Url { get; set; }
    public int MaxAttempts { get; set; } = 5;
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

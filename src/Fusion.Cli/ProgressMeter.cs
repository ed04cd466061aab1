namespace Fusion.Cli;

/// <summary>Rate (units per second) and ETA of one node's progress, measured from its first report (so a resumed node's rate counts only new work).</summary>
public sealed class ProgressMeter(string unit)
{
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    private long first = -1;
    public string Unit { get; set; } = unit;
    public long Current { get; private set; }
    public long Total { get; private set; }
    public TimeSpan SinceLastPrint => clock.Elapsed - lastPrint;
    private TimeSpan lastPrint;

    public void Update(long current, long total)
    {
        if (first < 0) { first = current; clock.Restart(); }
        Current = current;
        Total = total;
    }

    public double Rate => clock.Elapsed.TotalSeconds > 0.2 && first >= 0 ? (Current - first) / clock.Elapsed.TotalSeconds : 0;

    public TimeSpan? Eta => Rate > 0 && Total > 0 ? TimeSpan.FromSeconds((Total - Current) / Rate) : null;

    public void MarkPrinted() => lastPrint = clock.Elapsed;

    public string RateText() => Rate <= 0 ? "" : Rate >= 10 ? $"{Rate:F0} {Unit}/s" : Rate >= 1 ? $"{Rate:F1} {Unit}/s" : $"{1 / Rate:F1} s/{Unit}";

    public string EtaText() => Eta is { } e ? "ETA " + Format(e) : "";

    public static string Format(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s" : $"{t.TotalSeconds:F1}s";
}

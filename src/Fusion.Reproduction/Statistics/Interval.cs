using System.Globalization;

namespace Fusion.Reproduction.Statistics;

/// <summary>
/// An estimate with its 95 % interval, the number of independent units it rests on and how the interval was made
/// ("t over 3 seeds", "bootstrap over 128 samples, 1 seed"). Lo and Hi are NaN when no interval exists (one unit).
/// <see cref="Caveat"/> says why an estimate cannot decide a claim (e.g. "one seed: seed-to-seed spread unknown").
/// </summary>
public sealed record Interval(double Estimate, double Lo, double Hi, int N, string Method, string? Caveat = null)
{
    public bool HasBounds => double.IsFinite(Lo) && double.IsFinite(Hi);

    /// <summary>A figure without spread (exact, or a single unit).</summary>
    public static Interval Point(double value, int n, string method) => new(value, double.NaN, double.NaN, n, method);

    public string Format(string format) => HasBounds
        ? $"{Num(Estimate, format)} [{Num(Lo, format)}, {Num(Hi, format)}]"
        : Num(Estimate, format);

    private static string Num(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}

namespace Fusion.Reproduction.Statistics;

/// <summary>
/// The repeated looks of a run that adds seeds until its claims are decided (<c>fusion run --until-decided</c>), at most
/// <see cref="MaxSeeds"/> seeds. Each look at k seeds judges on intervals at level 1 − (A(k/N) − A((k−1)/N)), where
/// A(t) = α·ln(1 + (e − 1)·t) is Lan and DeMets' Pocock-type alpha-spending function (Lan &amp; DeMets 1983,
/// "Discrete sequential boundaries for clinical trials", Biometrika 70(3):659–663) and t = k/N the information
/// fraction. The levels of all possible looks spend at most α in total, so by Bonferroni's inequality every look's
/// interval holds at once with probability ≥ 1 − α whatever the dependence between looks, and a look skipped (seeds
/// added several at a time) only leaves its share unspent. Pocock-type spending spends early looks about as much as
/// late ones, so a large difference can stop a run after a few seeds; O'Brien–Fleming-type spending would save nearly
/// all of α for the last look.
/// </summary>
public sealed record SequentialDesign(int MaxSeeds, double Alpha = 1 - Intervals.Level)
{
    /// <summary>A(t): the error probability spent by information fraction t ∈ [0, 1].</summary>
    public double Spent(double t) => Alpha * Math.Log(1 + (Math.E - 1) * Math.Clamp(t, 0, 1));

    /// <summary>The two-sided confidence level of the look at <paramref name="seeds"/> seeds (1 ≤ seeds ≤ MaxSeeds).</summary>
    public double LevelAt(int seeds)
    {
        if (seeds < 1 || seeds > MaxSeeds)
            throw new ArgumentOutOfRangeException(nameof(seeds), seeds, $"a look of a sequential design with at most {MaxSeeds} seeds has 1 to {MaxSeeds} seeds");
        return 1 - (Spent((double)seeds / MaxSeeds) - Spent((double)(seeds - 1) / MaxSeeds));
    }

    public string Describe() =>
        $"sequential design of at most {MaxSeeds} seeds: each look's intervals at its own level (Lan–DeMets Pocock-type alpha spending, " +
        $"α = {Alpha.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} over all looks, Bonferroni across looks)";
}

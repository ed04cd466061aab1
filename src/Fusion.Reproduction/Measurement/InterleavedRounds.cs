namespace Fusion.Reproduction.Measurement;

/// <summary>
/// Times several candidates in interleaved rounds (A B C D, B C D A, …): each round runs every candidate once, the
/// start rotating so no candidate always follows the same one. A load change on the machine then hits all candidates
/// of a round alike, and per-round ratios cancel it where separate timings minutes apart would not.
/// </summary>
public static class InterleavedRounds
{
    /// <summary>
    /// rates[candidate][round] from <paramref name="timeOnce"/>(candidate), which runs one timed unit and returns its
    /// rate; <paramref name="progress"/> gets the units done so far.
    /// </summary>
    public static double[][] Run(int candidates, int rounds, Func<int, double> timeOnce, Action<int>? progress = null, CancellationToken ct = default)
    {
        if (candidates < 1) throw new ArgumentOutOfRangeException(nameof(candidates), candidates, "nothing to time");
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), rounds, "at least one round");
        var rates = Enumerable.Range(0, candidates).Select(_ => new double[rounds]).ToArray();
        var done = 0;
        for (var r = 0; r < rounds; r++)
            foreach (var c in Order(candidates, r))
            {
                ct.ThrowIfCancellationRequested();
                rates[c][r] = timeOnce(c);
                progress?.Invoke(++done);
            }
        return rates;
    }

    /// <summary>The candidates in the order round <paramref name="round"/> runs them.</summary>
    public static IEnumerable<int> Order(int candidates, int round) => Enumerable.Range(0, candidates).Select(i => (i + round) % candidates);
}

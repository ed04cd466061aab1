using Fusion.Reproduction.Measurement;

namespace Fusion.Tests.Measurement;

public class InterleavedRoundsTests
{
    [Fact]
    public void Every_round_times_every_candidate_once_starting_one_later_each_round()
    {
        var calls = new List<int>();
        var rates = InterleavedRounds.Run(3, 4, c => { calls.Add(c); return 10 * c + calls.Count; });
        Assert.Equal([0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2], calls);
        Assert.Equal([1.0, 6, 8, 10], rates[0]);                 // candidate 0's rate of each round, whatever its position
        Assert.Equal([12.0, 14, 19, 21], rates[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => InterleavedRounds.Run(2, 0, _ => 1));
    }

    [Fact]
    public void A_load_change_between_rounds_cancels_in_the_per_round_ratio()
    {
        // The machine slows down 3× from round 2 on; candidate 1 is always 1.5× faster than candidate 0.
        var round = 0;
        var calls = 0;
        var rates = InterleavedRounds.Run(2, 4, c => { var slow = round >= 2 ? 3.0 : 1.0; if (++calls % 2 == 0) round++; return (c == 1 ? 1.5 : 1.0) / slow; });
        Assert.All(rates[1].Zip(rates[0], (a, b) => a / b), r => Assert.Equal(1.5, r, 12));
        Assert.NotEqual(rates[0][0], rates[0][3]);
    }
}

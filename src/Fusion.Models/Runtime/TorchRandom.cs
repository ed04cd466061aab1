using static TorchSharp.torch;

namespace Fusion.Models;

/// <summary>
/// libtorch's default generator is one per process. Two nodes that build networks at the same time (<c>run -j 2</c>,
/// a worker with several slots, tests in parallel) would interleave their draws and initialise different weights from
/// the same seed. Everything that draws from that generator — module constructors included — goes through this gate,
/// so a seeded initialisation is atomic. Per-step randomness uses explicit <see cref="Generator"/>s instead.
/// </summary>
public static class TorchRandom
{
    private static readonly object Gate = new();   // Monitor: re-entrant, so a gated builder may call another

    /// <summary>Seeds the default generator with <paramref name="seed"/> and runs <paramref name="draw"/> with nobody else drawing.</summary>
    public static T Seeded<T>(long seed, Func<T> draw)
    {
        lock (Gate)
        {
            random.manual_seed(seed);
            return draw();
        }
    }

    /// <summary>Builds something whose random draws do not matter (its weights are loaded next) without disturbing a seeded build.</summary>
    public static T Unseeded<T>(Func<T> build)
    {
        lock (Gate) return build();
    }
}

namespace Fusion.Models;

/// <summary>
/// libtorch's CPU intra-op threads. The count is per calling thread (OpenMP's and MKL's are), so it is set on the
/// thread that then does the torch work.
/// </summary>
public static class TorchThreads
{
    /// <summary>Sets the calling thread's intra-op thread count (torch.set_num_threads).</summary>
    public static void Set(int threads) => TorchSharp.torch.set_num_threads(threads);
}

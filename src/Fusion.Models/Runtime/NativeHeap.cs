using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fusion.Models;

/// <summary>
/// Keeps freed tensor memory in the process for the next step. libtorch's CPU tensors come from glibc's malloc, whose
/// defaults hand the top of the heap back to the kernel as soon as more than twice the (adaptive, ≤ 32 MiB) mmap
/// threshold is free: every training step frees its activations, the heap shrinks, and the next step takes a page fault
/// on every page again. Measured on the shapes U-ViT (batch 32, 2 threads): 13 % of the step in page faults, and the
/// step 1.5× faster with the settings below (0.091 → 0.060 s; docs/benchmarks.md, "CPU: memory, threads and the
/// optimizer"). Allocation policy only: no kernel and no result changes, so it is not a fingerprint fact.
/// </summary>
public static class NativeHeap
{
    /// <summary>Requests at least this large are still mmap'd (glibc refuses more than 32 MiB on 64-bit).</summary>
    public const int MmapThresholdBytes = 32 << 20;

    /// <summary>Free memory at the top of the heap is kept up to this size instead of being handed back.</summary>
    public const int TrimThresholdBytes = 1 << 30;

    /// <summary>
    /// Padding kept when a heap is trimmed. Threads other than the main one allocate from their own arenas, made of
    /// heaps of at most 64 MiB, and glibc unmaps a whole heap as soon as it is empty, whatever the trim threshold, unless
    /// the free space left below it is under this pad: at 128 MiB (more than two heaps) no heap is ever given back.
    /// </summary>
    public const int TopPadBytes = 128 << 20;

    private const int MTrimThreshold = -1, MTopPad = -2, MMmapThreshold = -3;

    /// <summary>"retain" when the settings above are in force, else why not (another libc, the user's own malloc settings, FUSION_MALLOC=default).</summary>
    public static string Policy { get; private set; } = "default";

    // Runs when this assembly is first used, before any model allocates: the settings must precede the allocations they shape.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Configure()
    {
        if (!OperatingSystem.IsLinux()) { Policy = "default (not Linux)"; return; }
        if (Environment.GetEnvironmentVariable("FUSION_MALLOC") is "default") { Policy = "default (FUSION_MALLOC=default)"; return; }
        // A user who tunes malloc themselves keeps their settings.
        var env = Environment.GetEnvironmentVariables().Keys.Cast<string>();
        if (env.Any(k => k == "GLIBC_TUNABLES" || k.StartsWith("MALLOC_", StringComparison.Ordinal))) { Policy = "default (user's malloc settings)"; return; }
        try
        {
            // Both together: setting either one switches off glibc's adaptive threshold, and a trim threshold alone
            // would leave every request over 128 KiB mmap'd (4× slower, measured).
            Policy = MallOpt(MMmapThreshold, MmapThresholdBytes) == 1 && MallOpt(MTrimThreshold, TrimThresholdBytes) == 1
                     && MallOpt(MTopPad, TopPadBytes) == 1
                ? "retain" : "default (mallopt refused)";
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            Policy = "default (no glibc mallopt)";
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);
}

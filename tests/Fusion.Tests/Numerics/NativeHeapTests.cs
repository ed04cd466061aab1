using System.Runtime.InteropServices;
using Fusion.Models;

namespace Fusion.Tests.Numerics;

/// <summary>
/// The process keeps freed native memory for the next step (<see cref="NativeHeap"/>): a step-like pattern (many
/// megabyte blocks allocated, written and freed, again and again) must not take its page faults again each round.
/// Counted on this thread only (getrusage RUSAGE_THREAD), through malloc itself, so parallel tests don't disturb it.
/// </summary>
public class NativeHeapTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVcsw, NIvcsw;
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    private static long ThreadMinorFaults() => GetRUsage(1 /* RUSAGE_THREAD */, out var u) == 0 ? u.MinFlt : throw new InvalidOperationException("getrusage failed");

    private static void Round(int blocks, byte[] content)
    {
        var pointers = new IntPtr[blocks];
        for (var i = 0; i < blocks; i++)
        {
            pointers[i] = Marshal.AllocHGlobal(content.Length);   // malloc on Linux
            Marshal.Copy(content, 0, pointers[i], content.Length);   // touch every page
        }
        for (var i = blocks - 1; i >= 0; i--) Marshal.FreeHGlobal(pointers[i]);
    }

    [Fact]
    public void Freed_blocks_are_reused_without_new_page_faults()
    {
        if (!OperatingSystem.IsLinux()) return;   // glibc's mallopt is what NativeHeap sets
        Assert.Equal("retain", NativeHeap.Policy);
        const int blocks = 48;   // 48 MiB in 1-MiB blocks, like one step's activations
        var content = Enumerable.Repeat((byte)1, 1 << 20).ToArray();
        Round(blocks, content);
        Round(blocks, content);
        // The least of three rounds: a parallel test whose thread shares this one's malloc arena can take the freed
        // blocks for a round (a CI run once saw 4,097 faults in one). glibc's defaults fault nearly all in every round.
        var faults = Enumerable.Range(0, 3).Min(_ =>
        {
            var before = ThreadMinorFaults();
            Round(blocks, content);
            return ThreadMinorFaults() - before;
        });
        // 48 MiB is 12,288 pages; glibc's defaults hand the heap back after each round and fault nearly all again.
        Assert.True(faults < 1_000, $"{faults} page faults in the best of three rounds that reuse freed memory (policy {NativeHeap.Policy})");
    }
}

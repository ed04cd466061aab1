using System.Security.Cryptography;
using Fusion.Artifacts.Store;
using Fusion.Tests.Support;

namespace Fusion.Tests.Artifacts.Local;

/// <summary>A file is hashed once per version: while its identity (inode, size, write and change times) stays, later
/// reads are free; any change, or a change too recent to be told apart from the next, means hashing again.</summary>
public sealed class FileVerifierTests : IDisposable
{
    private readonly TempDir dir = new();

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static byte[] Bytes(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }

    /// <summary>Waits until a file written now is older than a timestamp tick, so the verifier may remember it.</summary>
    private static Task Settled() => Task.Delay(FileVerifier.Settle + TimeSpan.FromMilliseconds(200));

    [Fact]
    public async Task A_settled_file_is_hashed_once_until_it_changes()
    {
        var verifier = new FileVerifier();
        var path = dir["f.bin"];
        var bytes = Bytes(100_000);
        File.WriteAllBytes(path, bytes);
        await Settled();
        Assert.Equal(Sha(bytes), await verifier.Sha256Async(path, default));
        Assert.Equal(Sha(bytes), await verifier.Sha256Async(path, default));
        Assert.Equal(new HashingTotals(1, bytes.Length, verifier.Totals.Elapsed), verifier.Totals);

        bytes[^1] ^= 1;
        File.WriteAllBytes(path, bytes);   // same size, same inode
        Assert.Equal(Sha(bytes), await verifier.Sha256Async(path, default));
        Assert.Equal(2, verifier.Totals.Files);
    }

    [Fact]
    public async Task An_edit_that_puts_the_write_time_back_is_still_seen()
    {
        if (!OperatingSystem.IsLinux()) return;   // the status-change time comes from statx
        var verifier = new FileVerifier();
        var path = dir["f.bin"];
        var bytes = Bytes(5000);
        File.WriteAllBytes(path, bytes);
        await Settled();
        var written = File.GetLastWriteTimeUtc(path);
        Assert.Equal(Sha(bytes), await verifier.Sha256Async(path, default));

        bytes[0] ^= 0x80;
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, written);
        Assert.Equal(Sha(bytes), await verifier.Sha256Async(path, default));
    }

    [Fact]
    public async Task A_file_changed_within_the_last_tick_is_hashed_at_every_read()
    {
        // Both reads must come within the tick after the write; a machine too busy for that tries again.
        for (var attempt = 0; ; attempt++)
        {
            var verifier = new FileVerifier();
            var path = dir[$"f{attempt}.bin"];
            File.WriteAllBytes(path, Bytes(1000));
            await verifier.Sha256Async(path, default);
            await verifier.Sha256Async(path, default);
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(path) >= FileVerifier.Settle && attempt < 10) continue;
            Assert.Equal(2, verifier.Totals.Files);
            return;
        }
    }

    [Fact]
    public async Task A_missing_file_has_no_hash() => Assert.Null(await new FileVerifier().Sha256Async(dir["none.bin"], default));

    public void Dispose() => dir.Dispose();
}

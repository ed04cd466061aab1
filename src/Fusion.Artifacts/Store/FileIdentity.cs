using System.Runtime.InteropServices;

namespace Fusion.Artifacts.Store;

/// <summary>
/// One version of a file as the file system describes it, without reading its bytes: device, inode, size, and the
/// times of its last write and last status change (nanoseconds since 1970). A write changes both times and a replaced
/// file has another inode, so an unchanged identity means unchanged bytes, save for a change within one timestamp tick
/// of the identity being taken (<see cref="FileVerifier"/> allows for that).
/// </summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode, long Size, long ModifiedNs, long ChangedNs)
{
    /// <summary>The last write or status change, whichever is later.</summary>
    public DateTimeOffset LastChange => DateTimeOffset.UnixEpoch.AddTicks(Math.Max(ModifiedNs, ChangedNs) / 100);

    /// <summary>The identity of the file at <paramref name="path"/> now; null when there is none.</summary>
    public static FileIdentity? Of(string path) => OperatingSystem.IsLinux() && statxAvailable ? OfStatx(path) : OfFileInfo(path);

    private static bool statxAvailable = true;

    // statx(2) has one layout on every Linux architecture, unlike stat(2); inode and status-change time are what
    // FileInfo does not give.
    private static FileIdentity? OfStatx(string path)
    {
        try
        {
            if (Statx(AtCurrentDirectory, path, 0, BasicStats, out var s) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno is ENOENT or ENOTDIR) return null;
                throw new IOException($"cannot read the status of {path} (errno {errno})", errno);
            }
            return new FileIdentity(((ulong)s.DevMajor << 32) | s.DevMinor, s.Inode, (long)s.Size,
                s.ModifiedSeconds * 1_000_000_000 + s.ModifiedNanoseconds, s.ChangedSeconds * 1_000_000_000 + s.ChangedNanoseconds);
        }
        catch (EntryPointNotFoundException)
        {
            statxAvailable = false; // a C library older than statx: inode and change time are not known
            return OfFileInfo(path);
        }
    }

    private static FileIdentity? OfFileInfo(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return null;
        var modified = (info.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100;
        return new FileIdentity(0, 0, info.Length, modified, modified);
    }

    private const int AtCurrentDirectory = -100, ENOENT = 2, ENOTDIR = 20;
    private const uint BasicStats = 0x7ff;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int directory, string path, int flags, uint mask, out StatxBuffer buffer);

    /// <summary>struct statx (linux/stat.h): the fields read here at their fixed offsets.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(96)] public long ChangedSeconds;
        [FieldOffset(104)] public uint ChangedNanoseconds;
        [FieldOffset(112)] public long ModifiedSeconds;
        [FieldOffset(120)] public uint ModifiedNanoseconds;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }
}

namespace Fusion.Tests.Support;

/// <summary>
/// A real full disk (ENOSPC) without privileges: the command runs in a new user and mount namespace
/// (<c>unshare -rm</c>) where a small tmpfs is mounted on the folder. Only that process sees the mount.
/// </summary>
public static class SmallDisk
{
    public const int Megabytes = 2;

    /// <summary>The wrapper that runs a command with a <see cref="Megabytes"/> MiB tmpfs on <paramref name="folder"/> (see <see cref="FusionCli.Start"/>).</summary>
    public static IReadOnlyList<string> Wrapper(string folder) => MountNamespace.Wrapper($"mount -t tmpfs -o size={Megabytes}m tmpfs \"$0\"", folder);

    /// <summary>Null when such mounts work here; otherwise why not.</summary>
    public static string? WhyNot => whyNot.Value;

    // Writing more than the tmpfs holds must fail.
    private static readonly Lazy<string?> whyNot = new(() => MountNamespace.WhyNot(Wrapper,
        $"! dd if=/dev/zero of=\"$0/probe\" bs=1M count={Megabytes + 1} 2>/dev/null", "a tmpfs mount"));
}

/// <summary>A fact that needs <see cref="SmallDisk"/>: skipped, with the reason, where it does not work.</summary>
public sealed class SmallDiskFactAttribute : FactAttribute
{
    public SmallDiskFactAttribute()
    {
        if (SmallDisk.WhyNot is { } why) Skip = why;
    }
}

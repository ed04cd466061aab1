namespace Fusion.Tests.Support;

/// <summary>
/// A real read-only file system (EROFS) without privileges: the command runs in a new user and mount namespace
/// (<c>unshare -rm</c>) where the folder is bind-mounted onto itself read-only. Only that process sees the mount.
/// </summary>
public static class ReadOnlyMount
{
    /// <summary>The wrapper that runs a command with <paramref name="folder"/> read-only (see <see cref="FusionCli.Start"/>).</summary>
    public static IReadOnlyList<string> Wrapper(string folder) => MountNamespace.Wrapper("mount --bind -o ro \"$0\" \"$0\"", folder);

    /// <summary>Null when such mounts work here; otherwise why not.</summary>
    public static string? WhyNot => whyNot.Value;

    private static readonly Lazy<string?> whyNot = new(() => MountNamespace.WhyNot(Wrapper, "! touch \"$0/probe\" 2>/dev/null", "a read-only bind mount"));
}

/// <summary>A fact that needs <see cref="ReadOnlyMount"/>: skipped, with the reason, where it does not work.</summary>
public sealed class ReadOnlyMountFactAttribute : FactAttribute
{
    public ReadOnlyMountFactAttribute()
    {
        if (ReadOnlyMount.WhyNot is { } why) Skip = why;
    }
}

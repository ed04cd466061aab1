using System.Diagnostics;

namespace Fusion.Tests.Support;

/// <summary>
/// A real read-only file system (EROFS) without privileges: the command runs in a new user and mount namespace
/// (<c>unshare -rm</c>) where the folder is bind-mounted onto itself read-only. Only that process sees the mount.
/// </summary>
public static class ReadOnlyMount
{
    private const string Script = "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"";

    /// <summary>The wrapper that runs a command with <paramref name="folder"/> read-only (see <see cref="FusionCli.Start"/>).</summary>
    public static IReadOnlyList<string> Wrapper(string folder) => ["unshare", "-rm", "sh", "-c", Script, folder];

    /// <summary>Null when such mounts work here; otherwise why not.</summary>
    public static string? WhyNot => whyNot.Value;

    private static readonly Lazy<string?> whyNot = new(Probe);

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (user and mount namespaces)";
        using var dir = new TempDir();
        try
        {
            var info = new ProcessStartInfo(Wrapper(dir.Path)[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in Wrapper(dir.Path).Skip(1).Concat(["sh", "-c", "! touch \"$0/probe\" 2>/dev/null", dir.Path])) info.ArgumentList.Add(a);
            using var probe = Process.Start(info)!;
            var error = probe.StandardError.ReadToEndAsync();
            if (!probe.WaitForExit(10_000)) { probe.Kill(); return "unshare -rm did not finish"; }
            return probe.ExitCode == 0 ? null : $"unshare -rm with a read-only bind mount is not allowed here (exit {probe.ExitCode}: {error.Result.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception e) { return $"unshare is not available: {e.Message}"; }
    }
}

/// <summary>A fact that needs <see cref="ReadOnlyMount"/>: skipped, with the reason, where it does not work.</summary>
public sealed class ReadOnlyMountFactAttribute : FactAttribute
{
    public ReadOnlyMountFactAttribute()
    {
        if (ReadOnlyMount.WhyNot is { } why) Skip = why;
    }
}

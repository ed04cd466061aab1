using System.Diagnostics;

namespace Fusion.Tests.Support;

/// <summary>
/// Runs a command without privileges in a new user and mount namespace (<c>unshare -rm</c>) after a mount on a folder
/// that only that process sees.
/// </summary>
public static class MountNamespace
{
    /// <summary>A wrapper (see <see cref="FusionCli.Start"/>) that runs <paramref name="mount"/> (the folder is $0) and then the command.</summary>
    public static IReadOnlyList<string> Wrapper(string mount, string folder) => ["unshare", "-rm", "sh", "-c", mount + " && exec \"$@\"", folder];

    /// <summary>Null when <paramref name="check"/> (a shell command, the folder as $0) succeeds inside <paramref name="wrapper"/>; otherwise why not.</summary>
    public static string? WhyNot(Func<string, IReadOnlyList<string>> wrapper, string check, string what)
    {
        if (!OperatingSystem.IsLinux()) return "needs Linux (user and mount namespaces)";
        using var dir = new TempDir();
        try
        {
            var command = wrapper(dir.Path);
            var info = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in command.Skip(1).Concat(["sh", "-c", check, dir.Path])) info.ArgumentList.Add(a);
            using var probe = Process.Start(info)!;
            var error = probe.StandardError.ReadToEndAsync();
            if (!probe.WaitForExit(10_000)) { probe.Kill(); return "unshare -rm did not finish"; }
            return probe.ExitCode == 0 ? null : $"unshare -rm with {what} is not allowed here (exit {probe.ExitCode}: {error.Result.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception e) { return $"unshare is not available: {e.Message}"; }
    }
}

using System.Diagnostics;

namespace Fusion.Tests.Support;

/// <summary>The `fusion` command line (fusion.dll beside the test assembly) as a child process.</summary>
public static class FusionCli
{
    public static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "fusion.dll");

    /// <param name="wrapper">A command that runs the rest of its arguments (`dotnet fusion.dll …`), e.g. in another namespace.</param>
    public static Process Start(IEnumerable<string> args, string? workDir = null, IReadOnlyDictionary<string, string>? environment = null,
        IReadOnlyList<string>? wrapper = null)
    {
        string[] command = [.. wrapper ?? Array.Empty<string>(), "dotnet", Dll, .. args];
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workDir is not null) info.WorkingDirectory = workDir;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        foreach (var a in command[1..]) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    /// <summary>Waits for the exit; on timeout kills the process tree and throws with what it printed.</summary>
    public static async Task<(int Code, string Output)> FinishAsync(Process process, TimeSpan timeout)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw new TimeoutException("fusion did not finish: " + await stdout + await stderr); }
        return (process.ExitCode, await stdout + await stderr);
    }

    public static async Task<(int Code, string Output)> RunAsync(IEnumerable<string> args, TimeSpan timeout, string? workDir = null,
        IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? wrapper = null)
    {
        using var process = Start(args, workDir, environment, wrapper);
        return await FinishAsync(process, timeout);
    }
}

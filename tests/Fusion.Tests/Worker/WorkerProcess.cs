using System.Collections.Concurrent;
using System.Diagnostics;
using Fusion.Tests.Support;

namespace Fusion.Tests.Worker;

/// <summary>A distributed worker in its own OS process (<see cref="TestWorkerProgram"/>), joined to one task hub.</summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process process;
    private readonly TaskCompletionSource joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public ConcurrentQueue<string> Log { get; } = new();
    public string Name { get; }
    public int Pid => process.Id;
    public bool HasExited => process.HasExited;

    public WorkerProcess(string name, string commitRoot, IEnumerable<string> config, string mode = "worker")
        : this(name, [typeof(TestWorkerProgram).Assembly.Location, mode, commitRoot], config) { }

    /// <summary>The real thing: <c>fusion worker --distributed</c> on <paramref name="store"/>, with the test stage kinds as a plugin.</summary>
    public static WorkerProcess Cli(string name, string store, IEnumerable<string> config) =>
        new(name, [FusionCli.Dll, "worker", "--distributed", "--store", store,
                   "--plugin", typeof(TestWorkerProgram).Assembly.Location, "--device", "cpu"], config);

    private WorkerProcess(string name, IEnumerable<string> command, IEnumerable<string> config)
    {
        Name = name;
        var dotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Concat([$"--Worker:WorkerId={name}",
                     "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Fusion=Information", "--Logging:Console:FormatterName=simple"]).Concat(config))
            psi.ArgumentList.Add(a);
        process = Process.Start(psi)!;
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void OnLine(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null) return;
        Log.Enqueue(e.Data);
        if (e.Data.Contains("joined task hub", StringComparison.Ordinal)) joined.TrySetResult();
    }

    public async Task WaitJoinedAsync(TimeSpan timeout)
    {
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(joined.Task, exited, Task.Delay(timeout));
        if (first != joined.Task)
            throw new InvalidOperationException($"worker {Name} did not join ({(first == exited ? $"exited {process.ExitCode}" : "timeout")}):\n{string.Join('\n', Log)}");
    }

    public void Kill() => process.Kill();

    /// <summary>Sends SIGTERM (what Kubernetes and docker stop send) and waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", $"{process.Id}"])) await kill.WaitForExitAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);
        return process.ExitCode;
    }

    public void Dispose()
    {
        if (!process.HasExited) { process.Kill(); process.WaitForExit(5000); }
        process.Dispose();
    }
}

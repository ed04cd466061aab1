using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// A private Azurite (the Azure Storage emulator, pinned in infra/package.json) on free loopback ports with its data in
/// a folder: for tests, benchmarks and local runs. Stopped by PID (SIGTERM, then SIGKILL after a grace period), never
/// by name. <see cref="KillAsync"/> + <see cref="StartAgainAsync"/> simulate a crash and restart on the same data.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    /// <summary>The emulator's well-known development account (public, documented by Microsoft; not a secret).</summary>
    public const string Account = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly string _executable;
    private readonly bool _ownsData;
    private Process? _process;

    private AzuriteProcess(string executable, string dataDirectory, bool ownsData, int blobPort, int queuePort, int tablePort)
    {
        _executable = executable;
        DataDirectory = dataDirectory;
        _ownsData = ownsData;
        (BlobPort, QueuePort, TablePort) = (blobPort, queuePort, tablePort);
    }

    public string DataDirectory { get; }
    public int BlobPort { get; }
    public int QueuePort { get; }
    public int TablePort { get; }
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    public Uri BlobEndpoint => new($"http://127.0.0.1:{BlobPort}/{Account}");

    /// <summary>Connection string for blob, queue and table services of this instance.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{Account};QueueEndpoint=http://127.0.0.1:{QueuePort}/{Account};" +
        $"TableEndpoint=http://127.0.0.1:{TablePort}/{Account};";

    /// <summary>
    /// Starts Azurite (installing infra/'s npm packages with infra/setup.sh when they are missing). Data goes to
    /// <paramref name="dataDirectory"/>, or to a fresh temp folder deleted on dispose.
    /// </summary>
    public static async Task<AzuriteProcess> StartAsync(string? dataDirectory = null, CancellationToken ct = default)
    {
        var exe = await FindOrInstallAsync(ct).ConfigureAwait(false);
        var owns = dataDirectory is null;
        var data = dataDirectory ?? Directory.CreateTempSubdirectory("fusion-azurite-").FullName;
        Directory.CreateDirectory(data);
        var azurite = new AzuriteProcess(exe, data, owns, FreePort(), FreePort(), FreePort());
        await azurite.StartAgainAsync(ct).ConfigureAwait(false);
        return azurite;
    }

    /// <summary>(Re)starts the emulator on the same ports and data folder; waits until the blob port answers.</summary>
    public async Task StartAgainAsync(CancellationToken ct = default)
    {
        if (Pid is not null) throw new InvalidOperationException($"Azurite is already running (pid {Pid})");
        var psi = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--silent", "--location", DataDirectory, "--loose", "--skipApiVersionCheck",
                     "--blobHost", "127.0.0.1", "--blobPort", $"{BlobPort}", "--queueHost", "127.0.0.1", "--queuePort", $"{QueuePort}",
                     "--tableHost", "127.0.0.1", "--tablePort", $"{TablePort}" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {_executable}");
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        foreach (var port in new[] { BlobPort, QueuePort, TablePort })
            while (!await AnswersAsync(port, ct).ConfigureAwait(false))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    await KillAsync().ConfigureAwait(false);
                    string err;
                    lock (stderr) err = stderr.ToString().Trim();
                    throw new InvalidOperationException($"Azurite ({_executable}) did not answer on 127.0.0.1:{port}: {err}");
                }
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
    }

    /// <summary>Stops the emulator: SIGTERM, then SIGKILL if it has not exited after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (_process is not { } p) return;
        if (!p.HasExited && !OperatingSystem.IsWindows()) _ = Kill(p.Id, SigTerm);
        using (var wait = new CancellationTokenSource(grace ?? TimeSpan.FromSeconds(5)))
        {
            try { await p.WaitForExitAsync(wait.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }
        await KillAsync().ConfigureAwait(false);
    }

    /// <summary>Kills the emulator at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is not { } p) return;
        if (!p.HasExited)
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync().ConfigureAwait(false);
        }
        p.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_ownsData)
            try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// $FUSION_AZURITE, else infra/node_modules/.bin/azurite in the repository above the running code (running
    /// infra/setup.sh first when it is missing).
    /// </summary>
    public static async Task<string> FindOrInstallAsync(CancellationToken ct = default)
    {
        if (Environment.GetEnvironmentVariable("FUSION_AZURITE") is { Length: > 0 } env) return env;
        string? infra = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null && infra is null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "infra", "package.json"))) infra = Path.Combine(dir.FullName, "infra");
        if (infra is null)
            throw new FileNotFoundException($"infra/package.json not found above {AppContext.BaseDirectory}; set FUSION_AZURITE to an azurite executable");
        var exe = Path.Combine(infra, "node_modules", ".bin", "azurite");
        if (File.Exists(exe)) return exe;
        var setup = Process.Start(new ProcessStartInfo("bash", [Path.Combine(infra, "setup.sh")]) { UseShellExecute = false })
                    ?? throw new InvalidOperationException("could not run infra/setup.sh");
        await setup.WaitForExitAsync(ct).ConfigureAwait(false);
        return File.Exists(exe) ? exe : throw new FileNotFoundException($"infra/setup.sh (exit {setup.ExitCode}) did not install {exe}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<bool> AnswersAsync(int port, CancellationToken ct)
    {
        using var c = new TcpClient();
        try { await c.ConnectAsync(IPAddress.Loopback, port, ct).ConfigureAwait(false); return true; }
        catch (SocketException) { return false; }
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

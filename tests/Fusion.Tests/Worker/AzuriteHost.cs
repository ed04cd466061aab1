using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fusion.Tests.Support;

namespace Fusion.Tests.Worker;

/// <summary>
/// Azurite (the Azure Storage emulator, from infra/node_modules after infra/setup.sh, or $AZURITE) on free loopback
/// ports with a throw-away data folder; started once per test collection, stopped by PID (SIGTERM, then SIGKILL).
/// </summary>
public sealed class AzuriteHost : IDisposable
{
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly Process process;
    private readonly TempDir data = new();

    public static string? Executable =>
        Environment.GetEnvironmentVariable("AZURITE") is { Length: > 0 } env ? env
        : Path.Combine(Fixtures.RepoRoot, "infra", "node_modules", ".bin", "azurite") is var local && File.Exists(local) ? local
        : null;

    public string ConnectionString { get; }

    public AzuriteHost()
    {
        var exe = Executable ?? throw new InvalidOperationException("Azurite not found: run infra/setup.sh or set AZURITE");
        var (blob, queue, table) = (FreePort(), FreePort(), FreePort());
        var psi = new ProcessStartInfo(exe)
        {
            ArgumentList = { "--silent", "--loose", "--skipApiVersionCheck", "--location", data.Path,
                "--blobHost", "127.0.0.1", "--blobPort", $"{blob}", "--queueHost", "127.0.0.1", "--queuePort", $"{queue}",
                "--tableHost", "127.0.0.1", "--tablePort", $"{table}" },
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        foreach (var port in new[] { blob, queue, table }) WaitForPort(port);
        ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};" +
            $"BlobEndpoint=http://127.0.0.1:{blob}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{queue}/devstoreaccount1;" +
            $"TableEndpoint=http://127.0.0.1:{table}/devstoreaccount1;";
    }

    private void WaitForPort(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"Azurite exited with {process.ExitCode} before listening on {port}");
            try { using var c = new TcpClient(); c.Connect(IPAddress.Loopback, port); return; }
            catch (SocketException) when (DateTime.UtcNow < deadline) { Thread.Sleep(100); }
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", $"{process.Id}"])) term.WaitForExit();
            if (!process.WaitForExit(5000)) process.Kill();
        }
        process.Dispose();
        data.Dispose();
    }
}

/// <summary>Test classes of this collection share one Azurite (it can take many seconds to start on a busy machine).</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteHost>
{
    public const string Name = "worker-azurite";
}

/// <summary>A fact that needs Azurite; skipped (saying how to get it) when it is not installed.</summary>
public sealed class AzuriteFactAttribute : FactAttribute
{
    public AzuriteFactAttribute()
    {
        if (AzuriteHost.Executable is null) Skip = "Azurite not installed: run infra/setup.sh (or set AZURITE to its executable)";
    }
}

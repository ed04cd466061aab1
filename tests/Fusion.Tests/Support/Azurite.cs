using Fusion.Artifacts.Blob;

namespace Fusion.Tests.Support;

/// <summary>Tests in this collection share one Azurite (and run one at a time, since some of them kill it).</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}

/// <summary>
/// One private Azurite for the test run (installed from infra/package.json when missing), on free loopback ports with
/// its data in a temp folder; stopped by PID at the end. Blob, queue and table services all run.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    public AzuriteProcess Azurite => _azurite ?? throw new InvalidOperationException("Azurite is not started");
    public string ConnectionString => Azurite.ConnectionString;

    public async Task InitializeAsync() => _azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null) await _azurite.DisposeAsync();
    }

    /// <summary>Kills the emulator (as a crash would); <see cref="RestartAsync"/> brings it back on the same data.</summary>
    public Task KillAsync() => Azurite.KillAsync();

    public Task RestartAsync() => Azurite.StartAgainAsync();

    /// <summary>A fresh container name, so tests do not see each other's blobs.</summary>
    public static string NewContainer() => "t" + Guid.NewGuid().ToString("N")[..24];
}

using Fusion.Artifacts.Blob;

namespace Fusion.Tests.Worker;

/// <summary>
/// One Azurite for the Durable Task tests (a collection of their own, so they run beside the blob tests, which kill and
/// restart theirs): <see cref="AzuriteProcess"/>, installed by infra/setup.sh when missing, as every Azurite test does —
/// never skipped, so a green run has always run them.
/// </summary>
public sealed class AzuriteHost : IAsyncLifetime
{
    private AzuriteProcess? azurite;

    public string ConnectionString => (azurite ?? throw new InvalidOperationException("Azurite is not started")).ConnectionString;

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (azurite is not null) await azurite.DisposeAsync();
    }
}

/// <summary>Test classes of this collection share one Azurite (it can take many seconds to start on a busy machine).</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteHost>
{
    public const string Name = "worker-azurite";
}

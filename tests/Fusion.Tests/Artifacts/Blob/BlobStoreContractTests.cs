using Azure.Storage.Blobs;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Tests.Artifacts.Contract;
using Fusion.Tests.Support;

namespace Fusion.Tests.Artifacts.Blob;

/// <summary>The shared store contract, run against <see cref="BlobArtifactStore"/> on Azurite (with a prefix).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobStoreContractTests(AzuriteFixture azurite) : ArtifactStoreContractTests, IDisposable
{
    private readonly string _container = AzuriteFixture.NewContainer();
    private readonly TempDir _temp = new();
    private int _stores;

    protected override Task<IArtifactStore> CreateStoreAsync()
    {
        // Each store instance is "another machine": its own work folder and cache.
        var i = Interlocked.Increment(ref _stores);
        var options = new BlobStoreOptions
        {
            WorkDirectory = _temp[$"work{i}"], CacheDirectory = _temp[$"cache{i}"], LeaseDuration = TimeSpan.FromSeconds(15),
        };
        return BlobArtifactStore.OpenAsync($"azure://{AzuriteProcess.Account}/{_container}/team/a", BlobCredential.FromConnectionString(azurite.ConnectionString), options)
            .ContinueWith(t => (IArtifactStore)t.Result, TaskContinuationOptions.ExecuteSynchronously);
    }

    protected override async Task TamperAsync(IArtifactStore store, Manifest manifest, string fileName, byte[]? replacement)
    {
        var file = manifest.File(fileName);
        var blob = BlobTestUtil.Container(azurite, _container).GetBlobClient("team/a/" + BlobLayout.FileOf(manifest, file));
        if (replacement is null) Assert.True((await blob.DeleteIfExistsAsync()).Value);
        else await blob.UploadAsync(new BinaryData(replacement), overwrite: true);
    }

    public void Dispose() => _temp.Dispose();
}

internal static class BlobTestUtil
{
    public static BlobContainerClient Container(AzuriteFixture azurite, string container) =>
        new BlobServiceClient(azurite.ConnectionString, new BlobClientOptions(BlobArtifactStore.ServiceVersion)).GetBlobContainerClient(container);
}

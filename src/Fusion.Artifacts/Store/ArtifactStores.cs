using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store.Local;

namespace Fusion.Artifacts.Store;

/// <summary>Opens the store a location names: <c>azure://ACCOUNT/CONTAINER[/PREFIX]</c> (credentials from the environment) or a local folder.</summary>
public static class ArtifactStores
{
    /// <summary>The location from --store, else $FUSION_STORE, else .fusion in the working directory.</summary>
    public static string Resolve(string? location) =>
        location is { Length: > 0 } ? location : Environment.GetEnvironmentVariable("FUSION_STORE") is { Length: > 0 } env ? env : ".fusion";

    public static async Task<IArtifactStore> OpenAsync(string? location, BlobStoreOptions? blobOptions = null, CancellationToken ct = default)
    {
        var where = Resolve(location);
        return BlobStoreAddress.IsBlobAddress(where)
            ? await BlobArtifactStore.OpenAsync(where, BlobCredential.FromEnvironment(), blobOptions, ct)
            : new LocalArtifactStore(where);
    }
}

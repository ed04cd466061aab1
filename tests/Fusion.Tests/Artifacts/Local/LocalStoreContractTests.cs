using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Artifacts.Contract;
using Fusion.Tests.Support;

namespace Fusion.Tests.Artifacts.Local;

/// <summary>The shared store contract, run against <see cref="LocalArtifactStore"/>; each store instance is another process on one folder.</summary>
public sealed class LocalStoreContractTests : ArtifactStoreContractTests, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<IArtifactStore> CreateStoreAsync() => Task.FromResult<IArtifactStore>(new LocalArtifactStore(_dir["store"]));

    protected override Task TamperAsync(IArtifactStore store, Manifest manifest, string fileName, byte[]? replacement)
    {
        var path = Path.Combine(((LocalArtifactStore)store).ArtifactDirectory(manifest.Fingerprint), "files", fileName.Replace('/', Path.DirectorySeparatorChar));
        if (replacement is null) File.Delete(path);
        else
        {
            File.SetAttributes(path, FileAttributes.Normal);
            File.WriteAllBytes(path, replacement);
        }
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}

using System.Security.Cryptography;
using System.Text;
using Fusion.Artifacts.Store;

namespace Fusion.Worker.Documents;

/// <summary>
/// The worker's documents inside the artifact store (local folder or Azure Blob), so that every worker of a pool sees
/// the same claims and baselines. Create-only is built from the store's exclusive claim: under the claim, a missing
/// document is written and an existing one is left alone.
/// </summary>
public sealed class ArtifactStoreDocuments(IArtifactStore store) : IDocumentStore
{
    public Task<byte[]?> GetAsync(string path, CancellationToken ct = default) => store.GetDocumentAsync(path, ct);

    public string Describe(string path) => store.DescribeDocument(path);

    public Task PutAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default) =>
        store.PutDocumentAsync(path, content, ct);

    public async Task<bool> TryCreateAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        // Claims are keyed like fingerprints (lower-case hex), so the path is hashed into one.
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("document:" + path)));
        await using var claim = await store.ClaimAsync(key, ct);
        if (await store.GetDocumentAsync(path, ct) is not null) return false;
        await store.PutDocumentAsync(path, content, ct);
        return true;
    }
}

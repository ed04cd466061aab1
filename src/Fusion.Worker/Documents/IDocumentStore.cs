namespace Fusion.Worker.Documents;

/// <summary>
/// Small JSON documents the worker keeps beside the artifacts: run claims, baselines, regression reports and run
/// statuses. Paths are relative and '/'-separated. Backed by the artifact store's document API in production
/// (<see cref="ArtifactStoreDocuments"/>) or by a local folder (<see cref="FileDocumentStore"/>).
/// </summary>
public interface IDocumentStore
{
    /// <summary>The document's bytes, or null when it does not exist.</summary>
    Task<byte[]?> GetAsync(string path, CancellationToken ct = default);

    /// <summary>Writes a document atomically, replacing any previous content.</summary>
    Task PutAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default);

    /// <summary>Creates a document only when none exists; false when another writer got there first.</summary>
    Task<bool> TryCreateAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default);

    /// <summary>Where a document lives, as messages name it (its file or blob).</summary>
    string Describe(string path) => path;
}

namespace Fusion.Artifacts.Store;

/// <summary>A local store's path (or a folder above it) is a regular file, so the store's folders cannot be made there.</summary>
public sealed class StoreNotAFolderException(string store, string file)
    : IOException(file == store ? $"artifact store {store} is a file, not a folder" : $"artifact store {store}: {file} is a file, not a folder")
{
    public string Store { get; } = store;
}

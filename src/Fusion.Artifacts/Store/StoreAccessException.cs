namespace Fusion.Artifacts.Store;

/// <summary>
/// The store's folder refused an operation the store needs (read-only file system, full disk, a path that is not a
/// folder, …). The message names the store; the HResult is the underlying error's, so callers can still tell a
/// read-only file system or a full disk apart.
/// </summary>
public sealed class StoreAccessException : IOException
{
    public StoreAccessException(string message, IOException inner) : base(message, inner) => HResult = inner.HResult;
}

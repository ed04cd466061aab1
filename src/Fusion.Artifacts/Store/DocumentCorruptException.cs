namespace Fusion.Artifacts.Store;

/// <summary>
/// A stored document (run ledger, node index, pins, a worker's claim or baseline) exists but cannot be read: not
/// JSON, or not the document it should be. <see cref="Where"/> names it as the user can find it (the file, or the blob).
/// </summary>
public sealed class DocumentCorruptException(string where, string detail) : IOException($"{where} is unreadable ({detail})")
{
    public string Where => where;
}

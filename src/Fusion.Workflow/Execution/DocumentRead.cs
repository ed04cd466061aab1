using Fusion.Artifacts.Store;

namespace Fusion.Workflow.Execution;

/// <summary>
/// One engine document as read from the store: its value (null when it does not exist), or the reason it cannot be
/// read. Documents are a cache of what the artifacts' manifests say, so a caller may treat an unreadable one as absent
/// (after reporting <see cref="Error"/>) or stop with it (<see cref="OrThrow"/>) where guessing could lose data.
/// </summary>
public sealed record DocumentRead<T>(T? Value, DocumentCorruptException? Error) where T : class
{
    public T? OrThrow() => Error is null ? Value : throw Error;
}

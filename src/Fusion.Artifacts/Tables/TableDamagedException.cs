namespace Fusion.Artifacts.Tables;

/// <summary>
/// Parquet.Net could not decode a table (a bad footer, page header or compressed block): the bytes on disk are
/// damaged, not of another format. The message names the file, and the node that wrote it once known.
/// </summary>
public sealed class TableDamagedException : IOException
{
    public TableDamagedException(string path, Exception inner, string? node = null)
        : base($"{(node is null ? "" : $"output of node '{node}': ")}{path}: damaged Parquet file ({inner.Message})", inner)
    {
        Path = path;
        Node = node;
    }

    public string Path { get; }

    /// <summary>The node whose committed output the file is, when the reader knows it.</summary>
    public string? Node { get; }

    /// <summary>The same failure, naming <paramref name="node"/> as the file's writer.</summary>
    public TableDamagedException Of(string node) => new(Path, InnerException!, node);

    /// <summary>True for a failure of Parquet.Net's decoding; false for cancellation, a missing or refused file, or this project's own checks.</summary>
    public static bool IsDecodeFailure(Exception e) =>
        e is not (OperationCanceledException or TableFormatException or TableDamagedException
            or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or OutOfMemoryException);
}

namespace Fusion.Artifacts.Tables;

/// <summary>A Parquet table that is not what its reader expects (kind, columns, dtype, shape, payload size).</summary>
public sealed class TableFormatException(string message) : IOException(message);

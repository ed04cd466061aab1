using Parquet;
using Parquet.Schema;

namespace Fusion.Artifacts.Tables;

/// <summary>
/// Shared conventions of the pipeline's Parquet tables: the file-metadata keys, compression (Snappy by default, or
/// none; never Zstd for float payloads — it writes at ~3 MB/s for a few % gain) and schema checks on open.
/// </summary>
public static class ParquetTable
{
    /// <summary>File metadata key naming the table kind: "captions", "tensor", "metrics" or "records".</summary>
    public const string KindKey = "fusion.table";
    /// <summary>File metadata key holding the table format version ("1").</summary>
    public const string VersionKey = "fusion.table.version";
    /// <summary>Tensor tables: payload element type ("float32", "float64", "float16", "bfloat16", "uint8", "int64").</summary>
    public const string DTypeKey = "fusion.tensor.dtype";
    /// <summary>Tensor tables: payload shape, comma-separated ("77,768").</summary>
    public const string ShapeKey = "fusion.tensor.shape";
    public const string Version = "1";

    public static ParquetOptions Options(TableCompression compression) => new()
    {
        CompressionMethod = compression == TableCompression.Snappy ? CompressionMethod.Snappy : CompressionMethod.None,
    };

    internal static Dictionary<string, string> Metadata(string kind, IReadOnlyDictionary<string, string>? user)
    {
        var md = new Dictionary<string, string>();
        foreach (var (k, v) in user ?? new Dictionary<string, string>())
        {
            if (k.StartsWith("fusion.", StringComparison.Ordinal))
                throw new ArgumentException($"metadata key '{k}' is reserved (keys starting with 'fusion.' belong to the table format)");
            md[k] = v;
        }
        md[KindKey] = kind;
        md[VersionKey] = Version;
        return md;
    }

    internal static async Task<ParquetReader> OpenAsync(string path, string kind, CancellationToken ct)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"table not found: {path}", path);
        ParquetReader reader;
        try { reader = await ParquetReader.CreateAsync(path, cancellationToken: ct); }
        catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(path, e); }
        var found = reader.CustomMetadata.GetValueOrDefault(KindKey);
        if (found != kind)
        {
            await reader.DisposeAsync();
            throw new TableFormatException($"{path}: expected a '{kind}' table but file metadata '{KindKey}' is " +
                                           (found is null ? "missing" : $"'{found}'"));
        }
        return reader;
    }

    internal static DataField Field(ParquetReader reader, string path, string name, Type clrType)
    {
        var field = reader.Schema.DataFields.FirstOrDefault(f => f.Name == name)
                    ?? throw new TableFormatException($"{path}: column '{name}' is missing (columns: {string.Join(", ", reader.Schema.DataFields.Select(f => f.Name))})");
        if (ClrTypeOf(field) != clrType)
            throw new TableFormatException($"{path}: column '{name}' is {ClrTypeOf(field).Name}, expected {clrType.Name}");
        return field;
    }

    /// <summary>The column's element type, with Parquet.Net 6's ReadOnlyMemory views of text and binary as string and byte[].</summary>
    internal static Type ClrTypeOf(DataField field) =>
        field.ClrType == typeof(ReadOnlyMemory<char>) ? typeof(string)
        : field.ClrType == typeof(ReadOnlyMemory<byte>) ? typeof(byte[])
        : field.ClrType;

    /// <summary>User metadata of a table (without the format's own "fusion.*" keys).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ReadMetadataAsync(string path, CancellationToken ct = default)
    {
        ParquetReader reader;
        try { reader = await ParquetReader.CreateAsync(path, cancellationToken: ct); }
        catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(path, e); }
        await using var _ = reader;
        return reader.CustomMetadata.Where(kv => !kv.Key.StartsWith("fusion.", StringComparison.Ordinal))
                     .ToDictionary(kv => kv.Key, kv => kv.Value);
    }
}

public enum TableCompression { Snappy, None }

using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Serialization;

namespace Fusion.Artifacts.Tables;

/// <summary>
/// Any sequence of simple records (a class with public settable properties of primitive types, strings, enums or
/// nested simple classes — not float[]: Parquet.Net reads those pathologically slowly), one row each, through
/// Parquet.Net's serializer; written and read one row group at a time. File metadata <c>fusion.table = records</c>
/// and <c>fusion.records.type</c> (the CLR type name, checked on read).
/// </summary>
public static class RecordsTable
{
    public const string Kind = "records";
    public const string TypeKey = "fusion.records.type";
    public const int DefaultRowGroupRows = 50_000;

    public static async Task<long> WriteAsync<T>(string path, IEnumerable<T> records, IReadOnlyDictionary<string, string>? metadata = null,
        int rowGroupRows = DefaultRowGroupRows, CancellationToken ct = default) where T : class, new()
    {
        var md = ParquetTable.Metadata(Kind, metadata);
        md[TypeKey] = typeof(T).Name;
        var first = true;
        long total = 0;
        if (File.Exists(path)) File.Delete(path);
        foreach (var chunk in records.Chunk(rowGroupRows).DefaultIfEmpty([]))
        {
            var options = ParquetTable.Options(TableCompression.Snappy);
            options.Append = !first;
            options.RowGroupSize = rowGroupRows;
            await ParquetSerializer.SerializeAsync(chunk, path, options, md, ct);
            first = false;
            total += chunk.Length;
        }
        return total;
    }

    /// <summary>Streams the records of <paramref name="path"/>, one row group in memory at a time.</summary>
    public static async IAsyncEnumerable<T> ReadAsync<T>(string path, [EnumeratorCancellation] CancellationToken ct = default) where T : class, new()
    {
        int groups;
        await using (var reader = await ParquetTable.OpenAsync(path, Kind, ct))
        {
            var type = reader.CustomMetadata.GetValueOrDefault(TypeKey);
            if (type != typeof(T).Name)
                throw new TableFormatException($"{path}: records of type '{type ?? "(not recorded)"}', read as '{typeof(T).Name}'");
            groups = reader.RowGroupCount;
        }
        for (var i = 0; i < groups; i++)
        {
            DeserializationResult<T> result;
            try { result = await ParquetSerializer.DeserializeAsync<T>(path, null, i, ct); }
            catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(path, e); }
            foreach (var r in result.Data) yield return r;
        }
    }

    public static async Task<List<T>> ReadAllAsync<T>(string path, CancellationToken ct = default) where T : class, new()
    {
        var list = new List<T>();
        await foreach (var r in ReadAsync<T>(path, ct)) list.Add(r);
        return list;
    }
}

using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Parquet;
using Parquet.Schema;

namespace Fusion.Artifacts.Tables;

public enum TensorKeyType { Int64, String }

/// <summary>One group of rows of a tensor table, as read. Exactly one of the key arrays is set.</summary>
public sealed record TensorRowGroup(long[]? Int64Keys, string[]? StringKeys, long[]? ImageIds, byte[][]? Payloads)
{
    public int Count => Int64Keys?.Length ?? StringKeys!.Length;
}

/// <summary>One row of a tensor table: an int64 or a string key, the optional owning image, the payload bytes.</summary>
public sealed record TensorRow(long Int64Key, string? StringKey, long? ImageId, byte[] Payload);

/// <summary>
/// Tensor tables: one fixed-size tensor per row as raw little-endian bytes. Columns <c>key</c> (int64 or string),
/// optionally <c>image_id</c> (int64; e.g. caption embeddings keyed by caption id), <c>payload</c> (binary, exactly
/// <see cref="TensorSpec.ByteSize"/> bytes). File metadata: <c>fusion.table = tensor</c>, <c>fusion.tensor.dtype</c>,
/// <c>fusion.tensor.shape</c>, plus user keys.
/// </summary>
public static class TensorTable
{
    public const string Kind = "tensor";
    /// <summary>Row groups target about this many payload bytes (bounded memory on both ends).</summary>
    public const long TargetRowGroupBytes = 64L << 20;

    public static int DefaultRowGroupRows(TensorSpec spec) => (int)Math.Clamp(TargetRowGroupBytes / Math.Max(1, spec.ByteSize), 1, 100_000);

    internal static readonly DataField<long> Int64Key = new("key", false);
    internal static readonly DataField<string> StringKey = new("key", false);
    internal static readonly DataField<long> ImageId = new("image_id", false);
    internal static readonly DataField<byte[]> Payload = new("payload", false);
}

/// <summary>Writes a tensor table row by row; rows are flushed one row group at a time.</summary>
public sealed class TensorTableWriter : IAsyncDisposable
{
    readonly string _path;
    readonly Stream _stream;
    readonly ParquetWriter _writer;
    readonly int _groupRows;
    readonly List<long> _longKeys = [];
    readonly List<string> _stringKeys = [];
    readonly List<long> _imageIds = [];
    readonly List<byte[]> _payloads = [];
    bool _completed;

    public TensorSpec Spec { get; }
    public TensorKeyType KeyType { get; }
    public bool HasImageId { get; }
    public long RowCount { get; private set; }

    TensorTableWriter(string path, Stream stream, ParquetWriter writer, TensorSpec spec, TensorKeyType keyType, bool hasImageId, int groupRows)
    {
        (_path, _stream, _writer, Spec, KeyType, HasImageId, _groupRows) = (path, stream, writer, spec, keyType, hasImageId, groupRows);
    }

    /// <summary>Creates (or replaces) the table at <paramref name="path"/>.</summary>
    public static async Task<TensorTableWriter> CreateAsync(string path, TensorSpec spec, TensorKeyType keyType = TensorKeyType.Int64,
        bool withImageId = false, IReadOnlyDictionary<string, string>? metadata = null,
        TableCompression compression = TableCompression.Snappy, int? rowGroupRows = null, CancellationToken ct = default)
    {
        if (spec.ElementCount <= 0) throw new ArgumentException($"tensor spec {spec} has no elements");
        var fields = new List<Field> { keyType == TensorKeyType.Int64 ? TensorTable.Int64Key : TensorTable.StringKey };
        if (withImageId) fields.Add(TensorTable.ImageId);
        fields.Add(TensorTable.Payload);
        var stream = File.Create(path);
        try
        {
            var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, ParquetTable.Options(compression), cancellationToken: ct);
            var md = ParquetTable.Metadata(TensorTable.Kind, metadata);
            md[ParquetTable.DTypeKey] = TensorSpec.NameOf(spec.DType);
            md[ParquetTable.ShapeKey] = spec.ShapeText;
            writer.CustomMetadata = md;
            return new TensorTableWriter(path, stream, writer, spec, keyType, withImageId, rowGroupRows ?? TensorTable.DefaultRowGroupRows(spec));
        }
        catch { await stream.DisposeAsync(); throw; }
    }

    public Task AddAsync(long key, ReadOnlySpan<byte> payload, long? imageId = null, CancellationToken ct = default)
    {
        if (KeyType != TensorKeyType.Int64) throw new InvalidOperationException($"{_path}: table has string keys; got int64 key {key}");
        return Buffer(key.ToString(CultureInfo.InvariantCulture), payload, imageId, () => _longKeys.Add(key), ct);
    }

    public Task AddAsync(string key, ReadOnlySpan<byte> payload, long? imageId = null, CancellationToken ct = default)
    {
        if (KeyType != TensorKeyType.String) throw new InvalidOperationException($"{_path}: table has int64 keys; got string key '{key}'");
        return Buffer(key, payload, imageId, () => _stringKeys.Add(key), ct);
    }

    /// <summary>Adds a float32 tensor (the table's dtype must be float32).</summary>
    public Task AddAsync(long key, ReadOnlySpan<float> values, long? imageId = null, CancellationToken ct = default)
    {
        if (Spec.DType != TensorDType.Float32) throw new InvalidOperationException($"{_path}: table holds {Spec}; got float32 values for key {key}");
        return AddAsync(key, MemoryMarshal.AsBytes(values), imageId, ct);
    }

    Task Buffer(string key, ReadOnlySpan<byte> payload, long? imageId, Action addKey, CancellationToken ct)
    {
        if (_completed) throw new InvalidOperationException($"{_path}: writer already completed");
        if (payload.Length != Spec.ByteSize)
            throw new ArgumentException($"{_path}: payload of key {key} is {payload.Length} bytes; {Spec} needs {Spec.ByteSize}");
        if (HasImageId != imageId.HasValue)
            throw new ArgumentException($"{_path}: key {key}: " + (HasImageId ? "this table needs an image_id" : "this table has no image_id column"));
        addKey();
        if (imageId is { } id) _imageIds.Add(id);
        _payloads.Add(payload.ToArray());
        RowCount++;
        return _payloads.Count >= _groupRows ? FlushAsync(ct) : Task.CompletedTask;
    }

    async Task FlushAsync(CancellationToken ct)
    {
        if (_payloads.Count == 0) return;
        using (var g = _writer.CreateRowGroup())
        {
            if (KeyType == TensorKeyType.Int64) await g.WriteAsync<long>(TensorTable.Int64Key, new ReadOnlyMemory<long>(_longKeys.ToArray()), cancellationToken: ct);
            else await g.WriteAsync(TensorTable.StringKey, _stringKeys.ToArray());
            if (HasImageId) await g.WriteAsync<long>(TensorTable.ImageId, new ReadOnlyMemory<long>(_imageIds.ToArray()), cancellationToken: ct);
            await g.WriteAsync(TensorTable.Payload, _payloads.ToArray());
        }
        _longKeys.Clear(); _stringKeys.Clear(); _imageIds.Clear(); _payloads.Clear();
    }

    /// <summary>Writes the last row group and closes the file.</summary>
    public async Task CompleteAsync(CancellationToken ct = default)
    {
        if (_completed) return;
        await FlushAsync(ct);
        _completed = true;
        await _writer.DisposeAsync();
        await _stream.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_completed) return;
        try { await CompleteAsync(); }
        catch
        {
            _completed = true;
            await _stream.DisposeAsync();
            throw;
        }
    }
}

/// <summary>
/// Reads a tensor table one row group at a time. Opening checks the table kind, the columns and — when an expected
/// spec is given — dtype and shape; reading checks every payload's size.
/// </summary>
public sealed class TensorTableReader : IAsyncDisposable
{
    readonly ParquetReader _reader;
    readonly DataField _key, _payload;
    readonly DataField? _imageId;

    public string Path { get; }
    public TensorSpec Spec { get; }
    public TensorKeyType KeyType { get; }
    public bool HasImageId => _imageId is not null;
    public int RowGroupCount => _reader.RowGroupCount;
    public long RowCount { get; }
    /// <summary>User metadata (without the format's "fusion.*" keys).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    TensorTableReader(string path, ParquetReader reader, TensorSpec spec, TensorKeyType keyType, DataField key, DataField? imageId, DataField payload)
    {
        (Path, _reader, Spec, KeyType, _key, _imageId, _payload) = (path, reader, spec, keyType, key, imageId, payload);
        RowCount = Enumerable.Range(0, reader.RowGroupCount).Sum(RowGroupRowCount);
        Metadata = reader.CustomMetadata.Where(kv => !kv.Key.StartsWith("fusion.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
    }

    public static async Task<TensorTableReader> OpenAsync(string path, TensorSpec? expected = null, CancellationToken ct = default)
    {
        var reader = await ParquetTable.OpenAsync(path, TensorTable.Kind, ct);
        try
        {
            var md = reader.CustomMetadata;
            string Need(string k) => md.TryGetValue(k, out var v) ? v : throw new TableFormatException($"{path}: tensor table lacks file metadata '{k}'");
            TensorSpec spec;
            try { spec = new TensorSpec(TensorSpec.ParseDType(Need(ParquetTable.DTypeKey)), TensorSpec.ParseShape(Need(ParquetTable.ShapeKey))); }
            catch (FormatException e) { throw new TableFormatException($"{path}: {e.Message}"); }
            if (expected is not null && !expected.Equals(spec))
                throw new TableFormatException($"{path}: tensor table holds {spec} but {expected} was expected" +
                    (expected.DType != spec.DType ? $" (dtype {TensorSpec.NameOf(spec.DType)} ≠ {TensorSpec.NameOf(expected.DType)})" : $" (shape [{spec.ShapeText}] ≠ [{expected.ShapeText}])"));
            var keyField = reader.Schema.DataFields.FirstOrDefault(f => f.Name == "key")
                           ?? throw new TableFormatException($"{path}: column 'key' is missing");
            var keyType = ParquetTable.ClrTypeOf(keyField) == typeof(long) ? TensorKeyType.Int64
                        : ParquetTable.ClrTypeOf(keyField) == typeof(string) ? TensorKeyType.String
                        : throw new TableFormatException($"{path}: column 'key' is {ParquetTable.ClrTypeOf(keyField).Name}, expected Int64 or String");
            var imageId = reader.Schema.DataFields.Any(f => f.Name == "image_id") ? ParquetTable.Field(reader, path, "image_id", typeof(long)) : null;
            var payload = ParquetTable.Field(reader, path, "payload", typeof(byte[]));
            return new TensorTableReader(path, reader, spec, keyType, keyField, imageId, payload);
        }
        catch { await reader.DisposeAsync(); throw; }
    }

    public long RowGroupRowCount(int index) => _reader.Metadata!.RowGroups[index].NumRows;

    /// <summary>Reads one row group; with <paramref name="payloads"/> false only keys and image ids (cheap indexing).</summary>
    public async Task<TensorRowGroup> ReadRowGroupAsync(int index, bool payloads = true, CancellationToken ct = default)
    {
        if (index < 0 || index >= RowGroupCount) throw new ArgumentOutOfRangeException(nameof(index), $"{Path}: row group {index} of {RowGroupCount}");
        long[]? longKeys = null; string[]? stringKeys = null; long[]? imageIds = null; byte[][]? data = null;
        byte[]?[]? raw = null;
        int n;
        try
        {
            using var g = _reader.OpenRowGroupReader(index);
            n = checked((int)g.RowCount);
            if (KeyType == TensorKeyType.Int64) { longKeys = new long[n]; await g.ReadAsync<long>(_key, longKeys.AsMemory(), cancellationToken: ct); }
            else { var sk = new string?[n]; await g.ReadAsync(_key, sk.AsMemory(), cancellationToken: ct); stringKeys = sk.Select(k => k ?? "").ToArray(); }
            if (_imageId is not null) { imageIds = new long[n]; await g.ReadAsync<long>(_imageId, imageIds.AsMemory(), cancellationToken: ct); }
            if (payloads) { raw = new byte[]?[n]; await g.ReadAsync(_payload, raw.AsMemory(), cancellationToken: ct); }
        }
        catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(Path, e); }
        if (raw is not null)
        {
            for (var r = 0; r < n; r++)
                if (raw[r]?.Length != Spec.ByteSize)
                    throw new TableFormatException($"{Path}: row group {index}, row {r} (key {longKeys?[r].ToString(CultureInfo.InvariantCulture) ?? stringKeys![r]}): " +
                                                   $"payload is {raw[r]?.Length ?? 0} bytes; {Spec} needs {Spec.ByteSize}");
            data = raw!;
        }
        return new TensorRowGroup(longKeys, stringKeys, imageIds, data);
    }

    /// <summary>Streams every row in file order.</summary>
    public async IAsyncEnumerable<TensorRow> ReadAllAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = 0; i < RowGroupCount; i++)
        {
            var g = await ReadRowGroupAsync(i, true, ct);
            for (var r = 0; r < g.Count; r++)
                yield return new TensorRow(g.Int64Keys?[r] ?? 0, g.StringKeys?[r], g.ImageIds?[r], g.Payloads![r]);
        }
    }

    public ValueTask DisposeAsync() => _reader.DisposeAsync();
}

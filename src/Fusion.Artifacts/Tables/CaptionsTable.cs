using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Schema;

namespace Fusion.Artifacts.Tables;

/// <summary>One caption: COCO image id, COCO annotation id and text.</summary>
public sealed record CaptionRow(long ImageId, long CaptionId, string Text);

/// <summary>
/// The captions table: columns <c>image_id</c> int64, <c>caption_id</c> int64, <c>text</c> string (required), in the
/// order written; file metadata <c>fusion.table = captions</c> plus any user keys (e.g. the seed of an eval list).
/// </summary>
public static class CaptionsTable
{
    public const string Kind = "captions";
    public const int DefaultRowGroupRows = 100_000;

    static readonly DataField<long> ImageId = new("image_id", false);
    static readonly DataField<long> CaptionId = new("caption_id", false);
    static readonly DataField<string> Text = new("text", false);
    static readonly ParquetSchema Schema = new(ImageId, CaptionId, Text);

    /// <summary>Writes the rows to <paramref name="path"/> (created or replaced), streaming one row group at a time.</summary>
    public static async Task<long> WriteAsync(string path, IEnumerable<CaptionRow> rows,
        IReadOnlyDictionary<string, string>? metadata = null, TableCompression compression = TableCompression.Snappy,
        int rowGroupRows = DefaultRowGroupRows, CancellationToken ct = default)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(Schema, stream, ParquetTable.Options(compression), cancellationToken: ct);
        writer.CustomMetadata = ParquetTable.Metadata(Kind, metadata);
        long total = 0;
        foreach (var chunk in rows.Chunk(rowGroupRows))
        {
            ct.ThrowIfCancellationRequested();
            using var g = writer.CreateRowGroup();
            await g.WriteAsync<long>(ImageId, new ReadOnlyMemory<long>(chunk.Select(r => r.ImageId).ToArray()), cancellationToken: ct);
            await g.WriteAsync<long>(CaptionId, new ReadOnlyMemory<long>(chunk.Select(r => r.CaptionId).ToArray()), cancellationToken: ct);
            await g.WriteAsync(Text, chunk.Select(r => r.Text ?? throw new ArgumentException($"caption {r.CaptionId} of image {r.ImageId} has null text")).ToArray());
            total += chunk.Length;
        }
        return total;
    }

    /// <summary>Streams the rows of <paramref name="path"/> in file order, one row group in memory at a time.</summary>
    public static async IAsyncEnumerable<CaptionRow> ReadAsync(string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var reader = await ParquetTable.OpenAsync(path, Kind, ct);
        var img = ParquetTable.Field(reader, path, "image_id", typeof(long));
        var cap = ParquetTable.Field(reader, path, "caption_id", typeof(long));
        var txt = ParquetTable.Field(reader, path, "text", typeof(string));
        for (var i = 0; i < reader.RowGroupCount; i++)
        {
            long[] ids, caps; string?[] texts;
            try
            {
                using var g = reader.OpenRowGroupReader(i);
                var n = checked((int)g.RowCount);
                ids = new long[n]; caps = new long[n]; texts = new string?[n];
                await g.ReadAsync<long>(img, ids.AsMemory(), cancellationToken: ct);
                await g.ReadAsync<long>(cap, caps.AsMemory(), cancellationToken: ct);
                await g.ReadAsync(txt, texts.AsMemory(), cancellationToken: ct);
            }
            catch (Exception e) when (TableDamagedException.IsDecodeFailure(e)) { throw new TableDamagedException(path, e); }
            for (var r = 0; r < ids.Length; r++) yield return new CaptionRow(ids[r], caps[r], texts[r] ?? "");
        }
    }

    public static async Task<List<CaptionRow>> ReadAllAsync(string path, CancellationToken ct = default)
    {
        var list = new List<CaptionRow>();
        await foreach (var r in ReadAsync(path, ct)) list.Add(r);
        return list;
    }
}

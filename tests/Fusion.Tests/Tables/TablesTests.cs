using Fusion.Artifacts.Tables;
using Fusion.Tests.Support;
using Parquet;
using Parquet.Schema;

namespace Fusion.Tests.Tables;

public sealed class TablesTests
{
    [Fact]
    public async Task Captions_round_trip_across_row_groups_with_metadata()
    {
        using var dir = new TempDir();
        var rows = Enumerable.Range(0, 25).Select(i => new CaptionRow(1000 + i / 5, 7 * i, $"caption «{i}» with ünïcode")).ToList();
        var n = await CaptionsTable.WriteAsync(dir["c.parquet"], rows, new Dictionary<string, string> { ["seed"] = "42" }, rowGroupRows: 10);
        Assert.Equal(25, n);
        Assert.Equal(rows, await CaptionsTable.ReadAllAsync(dir["c.parquet"]));
        Assert.Equal("42", (await ParquetTable.ReadMetadataAsync(dir["c.parquet"]))["seed"]);
    }

    [Theory]
    [InlineData(TableCompression.Snappy)]
    [InlineData(TableCompression.None)]
    public async Task Tensor_table_round_trips_77x768_float32_payloads_with_image_ids(TableCompression compression)
    {
        using var dir = new TempDir();
        var spec = TensorSpec.Float32(77, 768);
        var rng = new Random(1);
        var tensors = Enumerable.Range(0, 7).Select(_ => Enumerable.Range(0, 77 * 768).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray()).ToList();
        await using (var w = await TensorTableWriter.CreateAsync(dir["e.parquet"], spec, withImageId: true, compression: compression, rowGroupRows: 3,
                         metadata: new Dictionary<string, string> { ["model"] = "clip-l14" }))
        {
            for (var i = 0; i < tensors.Count; i++) await w.AddAsync(500 + i, tensors[i], imageId: 9 + i / 2);
            Assert.Equal(7, w.RowCount);
            await w.CompleteAsync();
        }
        await using var r = await TensorTableReader.OpenAsync(dir["e.parquet"], spec);
        Assert.Equal(spec, r.Spec);
        Assert.Equal(3, r.RowGroupCount);
        Assert.Equal(7, r.RowCount);
        Assert.True(r.HasImageId);
        Assert.Equal("clip-l14", r.Metadata["model"]);
        var i2 = 0;
        await foreach (var row in r.ReadAllAsync())
        {
            Assert.Equal(500 + i2, row.Int64Key);
            Assert.Equal(9 + i2 / 2, row.ImageId);
            Assert.Equal(tensors[i2], TensorPayload.ToFloats(row.Payload));
            i2++;
        }
        Assert.Equal(7, i2);
        var keysOnly = await r.ReadRowGroupAsync(2, payloads: false);
        Assert.Equal([506L], keysOnly.Int64Keys!);
        Assert.Null(keysOnly.Payloads);
    }

    [Fact]
    public async Task Tensor_table_with_string_keys_and_uint8_payloads()
    {
        using var dir = new TempDir();
        var spec = TensorSpec.UInt8(3, 4, 4);
        await using (var w = await TensorTableWriter.CreateAsync(dir["p.parquet"], spec, TensorKeyType.String))
        {
            await w.AddAsync("a", Enumerable.Range(0, 48).Select(i => (byte)i).ToArray());
            await w.AddAsync("b", new byte[48]);
            await Assert.ThrowsAsync<InvalidOperationException>(() => w.AddAsync(3L, new byte[48]));
            var e = await Assert.ThrowsAsync<ArgumentException>(() => w.AddAsync("c", new byte[47]));
            Assert.Contains("47 bytes", e.Message);
            Assert.Contains("uint8[3,4,4]", e.Message);
        }
        await using var r = await TensorTableReader.OpenAsync(dir["p.parquet"]);
        Assert.Equal(TensorKeyType.String, r.KeyType);
        var g = await r.ReadRowGroupAsync(0);
        Assert.Equal(["a", "b"], g.StringKeys!);
        Assert.Equal((byte)47, g.Payloads![0][47]);
        Assert.False(r.HasImageId);
    }

    [Fact]
    public async Task Wrong_dtype_or_shape_metadata_is_a_clear_error()
    {
        using var dir = new TempDir();
        await using (var w = await TensorTableWriter.CreateAsync(dir["m.parquet"], new TensorSpec(TensorDType.Float16, [8, 32, 32])))
            await w.AddAsync(1, new byte[2 * 8 * 32 * 32]);
        var e1 = await Assert.ThrowsAsync<TableFormatException>(() => TensorTableReader.OpenAsync(dir["m.parquet"], TensorSpec.Float32(8, 32, 32)));
        Assert.Contains("m.parquet", e1.Message);
        Assert.Contains("float16[8,32,32]", e1.Message);
        Assert.Contains("float32[8,32,32]", e1.Message);
        var e2 = await Assert.ThrowsAsync<TableFormatException>(() => TensorTableReader.OpenAsync(dir["m.parquet"], new TensorSpec(TensorDType.Float16, [4, 32, 32])));
        Assert.Contains("shape [8,32,32] ≠ [4,32,32]", e2.Message);
        // A captions table is not a tensor table.
        await CaptionsTable.WriteAsync(dir["c.parquet"], [new CaptionRow(1, 2, "x")]);
        var e3 = await Assert.ThrowsAsync<TableFormatException>(() => TensorTableReader.OpenAsync(dir["c.parquet"]));
        Assert.Contains("expected a 'tensor' table", e3.Message);
    }

    [Fact]
    public async Task Hand_written_tables_with_bad_metadata_or_payloads_are_rejected()
    {
        using var dir = new TempDir();
        async Task Write(string name, Dictionary<string, string> md, byte[] payload)
        {
            var key = new DataField<long>("key", false); var payloadField = new DataField<byte[]>("payload", false);
            await using var s = File.Create(dir[name]);
            await using var w = await ParquetWriter.CreateAsync(new ParquetSchema(key, payloadField), s);
            w.CustomMetadata = md;
            using var g = w.CreateRowGroup();
            await g.WriteAsync<long>(key, new ReadOnlyMemory<long>([5L]));
            await g.WriteAsync(payloadField, [payload]);
        }
        await Write("noshape.parquet", new() { ["fusion.table"] = "tensor", ["fusion.tensor.dtype"] = "float32" }, new byte[8]);
        Assert.Contains("lacks file metadata 'fusion.tensor.shape'",
            (await Assert.ThrowsAsync<TableFormatException>(() => TensorTableReader.OpenAsync(dir["noshape.parquet"]))).Message);
        await Write("baddtype.parquet", new() { ["fusion.table"] = "tensor", ["fusion.tensor.dtype"] = "complex128", ["fusion.tensor.shape"] = "2" }, new byte[8]);
        Assert.Contains("unknown tensor dtype 'complex128'",
            (await Assert.ThrowsAsync<TableFormatException>(() => TensorTableReader.OpenAsync(dir["baddtype.parquet"]))).Message);
        await Write("short.parquet", new() { ["fusion.table"] = "tensor", ["fusion.tensor.dtype"] = "float32", ["fusion.tensor.shape"] = "3" }, new byte[8]);
        await using var r = await TensorTableReader.OpenAsync(dir["short.parquet"]);
        var e = await Assert.ThrowsAsync<TableFormatException>(() => r.ReadRowGroupAsync(0));
        Assert.Contains("row 0 (key 5): payload is 8 bytes; float32[3] needs 12", e.Message);
    }

    [Fact]
    public async Task Metrics_round_trip_with_free_labels()
    {
        using var dir = new TempDir();
        MetricRow[] rows =
        [
            new("fid", 5.95, "", new Dictionary<string, string> { ["variant"] = "early-concat", ["n"] = "30000" }),
            new("clip_score", 0.31, "", new Dictionary<string, string> { ["variant"] = "intermediate-cross" }),
            new("wall", 12.5, "s"),
        ];
        await MetricsTable.WriteAsync(dir["m.parquet"], rows);
        var back = await MetricsTable.ReadAsync(dir["m.parquet"]);
        Assert.Equal(3, back.Count);
        Assert.Equal(("fid", 5.95, "", "early-concat", "30000"), (back[0].Name, back[0].Value, back[0].Unit, back[0].Label("variant"), back[0].Label("n")));
        Assert.Null(back[1].Label("n"));
        Assert.Null(back[2].Labels);
        await Assert.ThrowsAsync<ArgumentException>(() => MetricsTable.WriteAsync(dir["x.parquet"], [new MetricRow("a", 1, "", new Dictionary<string, string> { ["unit"] = "x" })]));
    }

    public sealed class ObjectRecord
    {
        public long ImageId { get; set; }
        public int Index { get; set; }
        public string Shape { get; set; } = "";
        public double X { get; set; }
    }

    public sealed class OtherRecord { public long A { get; set; } }

    [Fact]
    public async Task Records_round_trip_in_row_groups_and_check_their_type()
    {
        using var dir = new TempDir();
        var recs = Enumerable.Range(0, 23).Select(i => new ObjectRecord { ImageId = i / 3, Index = i % 3, Shape = i % 2 == 0 ? "circle" : "square", X = i * 0.5 }).ToList();
        Assert.Equal(23, await RecordsTable.WriteAsync(dir["r.parquet"], recs, new Dictionary<string, string> { ["generator"] = "v1" }, rowGroupRows: 10));
        var back = await RecordsTable.ReadAllAsync<ObjectRecord>(dir["r.parquet"]);
        Assert.Equal(recs.Select(r => (r.ImageId, r.Index, r.Shape, r.X)), back.Select(r => (r.ImageId, r.Index, r.Shape, r.X)));
        Assert.Equal("v1", (await ParquetTable.ReadMetadataAsync(dir["r.parquet"]))["generator"]);
        var e = await Assert.ThrowsAsync<TableFormatException>(() => RecordsTable.ReadAllAsync<OtherRecord>(dir["r.parquet"]));
        Assert.Contains("'ObjectRecord', read as 'OtherRecord'", e.Message);
        Assert.Equal(0, await RecordsTable.WriteAsync(dir["empty.parquet"], new List<ObjectRecord>()));
        Assert.Empty(await RecordsTable.ReadAllAsync<ObjectRecord>(dir["empty.parquet"]));
    }
}

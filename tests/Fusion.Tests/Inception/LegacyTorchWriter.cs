using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Inception;

/// <summary>
/// Test-side writer of the legacy `torch.save(obj, f, _use_new_zipfile_serialization=False)` format, byte for byte as
/// PyTorch (≥ 1.x, protocol 2) lays it out for an OrderedDict state dict: CPython's pickler rules (memo on strings,
/// tuples, dicts and globals; BININT1/2/BININT sizing; TUPLE1–3 vs MARK…TUPLE; SETITEM vs MARK…SETITEMS), tensors as
/// REDUCE of torch._utils._rebuild_tensor_v2 with storages as persistent ids, then the sorted storage keys and each
/// storage's int64 element count and raw bytes.
/// </summary>
internal static class LegacyTorchWriter
{
    /// <summary>One storage: a contiguous 1-D tensor and the key torch would give it (str of its address).</summary>
    public sealed record SavedStorage(string Key, Tensor Data);

    /// <summary>One state-dict entry: a strided view of a storage.</summary>
    public sealed record Entry(string Name, SavedStorage Storage, long Offset, long[] Size, long[] Stride);

    public static byte[] Write(IReadOnlyList<Entry> entries, bool withMetadata = true, byte[]? mainPickleOverride = null)
    {
        var output = new MemoryStream();
        Dump(output, Magic.Instance);
        Dump(output, 1001L);
        Dump(output, new PyDict(
            ("protocol_version", 1001L), ("little_endian", true),
            ("type_sizes", new PyDict(("short", 2L), ("int", 4L), ("long", 8L)))));
        if (mainPickleOverride is not null) output.Write(mainPickleOverride);
        else
        {
            var items = entries.Select(e => ((object)e.Name, (object?)new PyReduce(RebuildTensor, new PyTuple(
                new Persistent(new PyTuple("storage", StorageType(e.Storage.Data.dtype), new string(e.Storage.Key.AsSpan()), "cpu", e.Storage.Data.numel(), null)),
                e.Offset, new PyTuple([.. e.Size.Cast<object?>()]), new PyTuple([.. e.Stride.Cast<object?>()]), false,
                new PyReduce(OrderedDict, PyTuple.Empty))))).ToArray();
            object? state = withMetadata
                ? new PyDict(("_metadata", new PyReduce(OrderedDict, PyTuple.Empty, DictItems: [("", new PyDict(("version", 1L)))])))
                : null;
            Dump(output, new PyReduce(OrderedDict, PyTuple.Empty, state, items));
        }
        var storages = entries.Select(e => e.Storage).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        Dump(output, new PyList([.. storages.Select(s => (object?)s.Key)]));
        foreach (var s in storages)
        {
            output.Write(BitConverter.GetBytes(s.Data.numel()));
            output.Write(s.Data.contiguous().bytes);
        }
        return output.ToArray();
    }

    /// <summary>A complete legacy file whose main pickle is <paramref name="pickle"/> (e.g. one asking for os.system).</summary>
    public static byte[] WithMainPickle(byte[] pickle) => Write([], mainPickleOverride: pickle);

    // ---- a small CPython-compatible pickler (protocol 2) ----

    public sealed record PyGlobal(string Module, string Name);
    public sealed class PyTuple(params object?[] items) { public object?[] Items { get; } = items; public static readonly PyTuple Empty = new(); }
    public sealed class PyList(params object?[] items) { public object?[] Items { get; } = items; }
    public sealed class PyDict(params (object Key, object? Value)[] items) { public (object Key, object? Value)[] Items { get; } = items; }
    public sealed record PyReduce(PyGlobal Func, PyTuple Args, object? State = null, (object Key, object? Value)[]? DictItems = null);
    public sealed record Persistent(PyTuple Id);
    private sealed class Magic { public static readonly Magic Instance = new(); }

    private static readonly PyGlobal OrderedDict = new("collections", "OrderedDict");
    private static readonly PyGlobal RebuildTensor = new("torch._utils", "_rebuild_tensor_v2");
    private static readonly Dictionary<ScalarType, PyGlobal> StorageTypes = new()
    {
        [ScalarType.Float32] = new("torch", "FloatStorage"), [ScalarType.Float64] = new("torch", "DoubleStorage"),
        [ScalarType.Int64] = new("torch", "LongStorage"), [ScalarType.BFloat16] = new("torch", "BFloat16Storage"),
    };

    private static PyGlobal StorageType(ScalarType t) => StorageTypes[t];

    public static void Dump(Stream s, object? obj)
    {
        var p = new Pickler(s);
        s.Write([0x80, 0x02]);
        p.Save(obj);
        s.WriteByte((byte)'.');
    }

    private sealed class Pickler(Stream s)
    {
        private readonly Dictionary<object, int> memo = new(ReferenceEqualityComparer.Instance);

        public void Save(object? obj)
        {
            if (obj is Persistent pid) { Save(pid.Id); s.WriteByte((byte)'Q'); return; }
            if (obj is not null && memo.TryGetValue(obj, out var index)) { Get(index); return; }
            switch (obj)
            {
                case null: s.WriteByte((byte)'N'); break;
                case bool b: s.WriteByte(b ? (byte)0x88 : (byte)0x89); break;
                case long n: Int(n); break;
                case Magic: s.Write([0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]); break;
                case string str:
                    var bytes = Encoding.UTF8.GetBytes(str);
                    s.WriteByte((byte)'X'); U32(bytes.Length); s.Write(bytes); Memoize(str);
                    break;
                case PyGlobal g:
                    s.Write(Encoding.ASCII.GetBytes($"c{g.Module}\n{g.Name}\n")); Memoize(g);
                    break;
                case PyTuple t: Tuple(t); break;
                case PyList l:
                    s.WriteByte((byte)']'); Memoize(l);
                    if (l.Items.Length == 1) { Save(l.Items[0]); s.WriteByte((byte)'a'); }
                    else if (l.Items.Length > 1) { s.WriteByte((byte)'('); foreach (var x in l.Items) Save(x); s.WriteByte((byte)'e'); }
                    break;
                case PyDict d: s.WriteByte((byte)'}'); Memoize(d); SetItems(d.Items); break;
                case PyReduce r:
                    Save(r.Func); Save(r.Args); s.WriteByte((byte)'R'); Memoize(r);
                    SetItems(r.DictItems ?? []);
                    if (r.State is not null) { Save(r.State); s.WriteByte((byte)'b'); }
                    break;
                default: throw new ArgumentException($"cannot pickle {obj.GetType().Name}");
            }
        }

        private void Tuple(PyTuple t)
        {
            var n = t.Items.Length;
            if (n == 0) { s.WriteByte((byte)')'); return; }
            if (n > 3) s.WriteByte((byte)'(');
            foreach (var x in t.Items) Save(x);
            s.WriteByte(n switch { 1 => 0x85, 2 => 0x86, 3 => 0x87, _ => (byte)'t' });
            Memoize(t);
        }

        private void SetItems((object Key, object? Value)[] items)
        {
            if (items.Length == 1) { Save(items[0].Key); Save(items[0].Value); s.WriteByte((byte)'s'); return; }
            foreach (var batch in items.Chunk(1000))
            {
                s.WriteByte((byte)'(');
                foreach (var (k, v) in batch) { Save(k); Save(v); }
                s.WriteByte((byte)'u');
            }
        }

        private void Int(long n)
        {
            if (n is >= 0 and <= 0xff) s.Write([(byte)'K', (byte)n]);
            else if (n is >= 0 and <= 0xffff) { s.WriteByte((byte)'M'); Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)n); s.Write(b); }
            else if (n is >= int.MinValue and <= int.MaxValue) { s.WriteByte((byte)'J'); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, (int)n); s.Write(b); }
            else
            {
                var bytes = new System.Numerics.BigInteger(n).ToByteArray(); // minimal two's complement, as CPython's encode_long
                s.Write([0x8a, (byte)bytes.Length]); s.Write(bytes);
            }
        }

        private void Memoize(object obj)
        {
            var index = memo.Count;
            memo[obj] = index;
            if (index < 256) s.Write([(byte)'q', (byte)index]);
            else { s.WriteByte((byte)'r'); U32(index); }
        }

        private void Get(int index)
        {
            if (index < 256) s.Write([(byte)'h', (byte)index]);
            else { s.WriteByte((byte)'j'); U32(index); }
        }

        private void U32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); s.Write(b); }
    }
}

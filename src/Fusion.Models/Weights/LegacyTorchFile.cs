using System.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Weights;

/// <summary>
/// Reader for the legacy (pre-1.6, non-zip) `torch.save` format, e.g. pytorch-fid's
/// `pt_inception-2015-12-05-6726825d.pth`, which TorchSharp.PyBridge rejects. Layout: five consecutive pickles —
/// magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys-info dict, the object (storages appear as persistent
/// ids ('storage', StorageType, key, location, numel, view_metadata)), the list of storage keys — then per key, in that
/// order, an int64 element count and the raw little-endian bytes. Unpickling is restricted to the constructs a state
/// dict needs (<see cref="AllowedGlobals"/>); anything else is refused before it is built.
/// </summary>
public static class LegacyTorchFile
{
    public static readonly BigInteger MagicNumber = BigInteger.Parse("119547037146038801333356");
    public const long ProtocolVersion = 1001;

    /// <summary>The first 15 bytes of every legacy file: PROTO 2, LONG1 of 10 bytes = the magic number, STOP.</summary>
    public static ReadOnlySpan<byte> Header => [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];

    private static readonly Dictionary<string, ScalarType> StorageTypes = new()
    {
        ["FloatStorage"] = ScalarType.Float32, ["DoubleStorage"] = ScalarType.Float64, ["HalfStorage"] = ScalarType.Float16,
        ["BFloat16Storage"] = ScalarType.BFloat16, ["LongStorage"] = ScalarType.Int64, ["IntStorage"] = ScalarType.Int32,
        ["ShortStorage"] = ScalarType.Int16, ["CharStorage"] = ScalarType.Int8, ["ByteStorage"] = ScalarType.Byte,
        ["BoolStorage"] = ScalarType.Bool,
    };

    /// <summary>The only globals a legacy state dict may name.</summary>
    public static IReadOnlyCollection<string> AllowedGlobals => Allowed.Keys;

    private static readonly Dictionary<string, Func<object?[], object?>> Allowed = BuildAllowList();

    private static Dictionary<string, Func<object?[], object?>> BuildAllowList()
    {
        var list = new Dictionary<string, Func<object?[], object?>>
        {
            ["collections.OrderedDict"] = OrderedDict,
            ["torch._utils._rebuild_tensor_v2"] = RebuildTensor,
            ["torch._utils._rebuild_parameter"] = args => args.Length >= 1 && args[0] is PendingTensor t ? t
                : throw new InvalidDataException("_rebuild_parameter expects (tensor, requires_grad, hooks)"),
        };
        foreach (var name in StorageTypes.Keys)
            list["torch." + name] = _ => throw new InvalidDataException($"torch.{name} may only name a storage type, not be called");
        return list;
    }

    public static bool IsLegacy(ReadOnlySpan<byte> firstBytes) => firstBytes.StartsWith(Header);

    public static bool IsLegacy(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> head = stackalloc byte[Header.Length];
        return f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) == head.Length && IsLegacy(head);
    }

    /// <summary>Reads the saved object; tensors come back as CPU tensors viewing their shared storages.</summary>
    public static object? Load(string path)
    {
        using var f = new BufferedStream(File.OpenRead(path), 1 << 20);
        return Load(f, path);
    }

    public static object? Load(Stream stream, string source)
    {
        var plain = new Dictionary<string, Func<object?[], object?>>();
        var magic = new RestrictedUnpickler(stream, source, plain).Load();
        if (magic is not BigInteger m || m != MagicNumber)
            throw new InvalidDataException($"{source}: not a legacy torch.save file (first pickle is {magic ?? "None"}, not the magic number)");
        var protocol = new RestrictedUnpickler(stream, source, plain).Load();
        if (protocol is not long p || p != ProtocolVersion)
            throw new InvalidDataException($"{source}: unsupported legacy torch.save protocol version {protocol ?? "None"} (expected {ProtocolVersion})");
        if (new RestrictedUnpickler(stream, source, plain).Load() is not Dictionary<object, object?> sysInfo)
            throw new InvalidDataException($"{source}: the sys-info record is not a dict");
        if (!sysInfo.TryGetValue("little_endian", out var le) || le is not true)
            throw new InvalidDataException($"{source}: written on a big-endian machine (little_endian = {le ?? "absent"}); only little-endian files are supported");

        var storages = new Dictionary<string, PendingStorage>();
        var root = new RestrictedUnpickler(stream, source, Allowed, pid => Storage(pid, storages, source)).Load();
        if (new RestrictedUnpickler(stream, source, plain).Load() is not List<object?> keys)
            throw new InvalidDataException($"{source}: the storage key list is missing or not a list");

        var data = new Dictionary<string, Tensor>();
        try
        {
            foreach (var k in keys)
            {
                var key = k as string ?? throw new InvalidDataException($"{source}: storage key {k} is not a string");
                if (!storages.TryGetValue(key, out var s))
                    throw new InvalidDataException($"{source}: storage '{key}' has data but no tensor refers to it");
                data[key] = ReadStorage(stream, source, s);
            }
            var missing = storages.Keys.Where(k => !data.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{source}: storage(s) {string.Join(", ", missing)} are referenced but have no data");
            return Materialise(root, data, new Dictionary<PendingTensor, Tensor>(ReferenceEqualityComparer.Instance), source);
        }
        finally { foreach (var t in data.Values) t.Dispose(); } // the views keep what they need alive
    }

    /// <summary>Reads a state dict (the top level, or the dict under <paramref name="nestedKey"/>): names → tensors.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path, string? nestedKey = null)
    {
        var top = Load(path);
        if (nestedKey is not null && top is Dictionary<object, object?> outer && outer.TryGetValue(nestedKey, out var inner)) top = inner;
        if (top is not Dictionary<object, object?> dict)
            throw new InvalidDataException($"{path}: the saved object is a {top?.GetType().Name ?? "None"}, not a dict of tensors" +
                                           (nestedKey is null ? "" : $" (looked under '{nestedKey}')"));
        var result = new Dictionary<string, Tensor>();
        foreach (var (k, v) in dict)
            result[k as string ?? throw new InvalidDataException($"{path}: key {k} is not a string")] = v as Tensor
                ?? throw new InvalidDataException($"{path}: entry '{k}' is a {v?.GetType().Name ?? "None"}, not a tensor");
        return result;
    }

    private sealed record PendingStorage(string Key, ScalarType DType, long Numel);

    private sealed record PendingTensor(PendingStorage Storage, long Offset, long[] Size, long[] Stride);

    private static object OrderedDict(object?[] args)
    {
        var d = new PickleOrderedDict();
        if (args.Length == 1 && args[0] is List<object?> pairs)
            foreach (var pair in pairs)
                if (pair is object?[] { Length: 2 } kv && kv[0] is { } key) d[key] = kv[1];
                else throw new InvalidDataException("OrderedDict expects (key, value) pairs");
        else if (args.Length != 0) throw new InvalidDataException($"OrderedDict called with {args.Length} arguments");
        return d;
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    private static object RebuildTensor(object?[] args)
    {
        if (args.Length is < 6 or > 7 || args[0] is not PendingStorage storage || args[1] is not long offset
            || args[2] is not object?[] size || args[3] is not object?[] stride || size.Length != stride.Length)
            throw new InvalidDataException($"_rebuild_tensor_v2 called with unexpected arguments ({args.Length}: " +
                                           string.Join(", ", args.Select(a => a?.GetType().Name ?? "None")) + ")");
        return new PendingTensor(storage, offset, [.. size.Select(Int)], [.. stride.Select(Int)]);
    }

    private static long Int(object? v) => v as long? ?? throw new InvalidDataException($"tensor size/stride entry {v} is not an int");

    private static PendingStorage Storage(object? pid, Dictionary<string, PendingStorage> storages, string source)
    {
        if (pid is not object?[] { Length: 6 } t || t[0] is not "storage")
            throw new InvalidDataException($"{source}: unsupported persistent id {Describe(pid)} (expected ('storage', type, key, location, numel, view))");
        if (t[1] is not PickleGlobal { Module: "torch" } type || !StorageTypes.TryGetValue(type.Name, out var dtype))
            throw new InvalidDataException($"{source}: persistent id names storage type {t[1]}, not a torch.*Storage");
        if (t[2] is not string key || t[4] is not long numel || numel < 0)
            throw new InvalidDataException($"{source}: malformed storage persistent id {Describe(pid)}");
        if (t[5] is not null)
            throw new InvalidDataException($"{source}: storage '{key}' is a storage view (pre-1.0 format), which is not supported");
        if (!storages.TryGetValue(key, out var s)) storages[key] = s = new PendingStorage(key, dtype, numel);
        else if (s.DType != dtype || s.Numel != numel)
            throw new InvalidDataException($"{source}: storage '{key}' is declared twice with different types or sizes");
        return s;
    }

    private static string Describe(object? v) => v is object?[] a ? "(" + string.Join(", ", a.Select(Describe)) + ")" : v?.ToString() ?? "None";

    private static Tensor ReadStorage(Stream stream, string source, PendingStorage s)
    {
        Span<byte> count = stackalloc byte[8];
        if (stream.ReadAtLeast(count, 8, throwOnEndOfStream: false) != 8)
            throw new InvalidDataException($"{source}: file is truncated: the element count of storage '{s.Key}' is missing");
        var numel = BitConverter.ToInt64(count);
        if (numel != s.Numel)
            throw new InvalidDataException($"{source}: storage '{s.Key}' holds {numel} elements but the pickle declared {s.Numel}");
        long elementSize;
        using (var probe = empty(0, s.DType)) elementSize = probe.ElementSize;
        if (stream.CanSeek && numel * elementSize > stream.Length - stream.Position) // before allocating what the file lacks
            throw new InvalidDataException($"{source}: file is truncated in the data of storage '{s.Key}' " +
                                           $"({stream.Length - stream.Position} of {numel * elementSize} bytes present)");
        var storage = empty(numel, s.DType);
        const long chunk = 1 << 28; // Tensor.bytes spans are int-sized: fill large storages in pieces
        for (long start = 0; start < numel; start += chunk / elementSize)
        {
            var n = Math.Min(chunk / elementSize, numel - start);
            using var piece = storage.narrow(0, start, n);
            var span = piece.bytes;
            var read = stream.ReadAtLeast(span, span.Length, throwOnEndOfStream: false);
            if (read != span.Length)
            {
                storage.Dispose();
                throw new InvalidDataException($"{source}: file is truncated in the data of storage '{s.Key}' " +
                                               $"({start * elementSize + read} of {numel * elementSize} bytes present)");
            }
        }
        return storage;
    }

    private static object? Materialise(object? v, Dictionary<string, Tensor> data, Dictionary<PendingTensor, Tensor> done, string source)
    {
        switch (v)
        {
            case PendingTensor p:
                if (done.TryGetValue(p, out var t)) return t;
                var extent = p.Offset + p.Size.Zip(p.Stride).Sum(z => z.First == 0 ? 0 : (z.First - 1) * z.Second) + (p.Size.Contains(0) ? 0 : 1);
                if (p.Offset < 0 || p.Stride.Any(x => x < 0) || (!p.Size.Contains(0) && extent > p.Storage.Numel))
                    throw new InvalidDataException($"{source}: a tensor of size [{string.Join(", ", p.Size)}], stride " +
                                                   $"[{string.Join(", ", p.Stride)}], offset {p.Offset} reaches past storage '{p.Storage.Key}' ({p.Storage.Numel} elements)");
                return done[p] = data[p.Storage.Key].as_strided(p.Size, p.Stride, p.Offset);
            case PendingStorage s:
                throw new InvalidDataException($"{source}: a bare storage ('{s.Key}') outside a tensor is not supported");
            case PickleOrderedDict od:
            {
                var copy = new PickleOrderedDict();
                foreach (var (k, x) in od) copy[k] = Materialise(x, data, done, source);
                foreach (var (k, x) in od.Attributes) copy.Attributes[k] = x;
                return copy;
            }
            case Dictionary<object, object?> d:
                return d.ToDictionary(kv => kv.Key, kv => Materialise(kv.Value, data, done, source));
            case List<object?> l:
                return l.Select(x => Materialise(x, data, done, source)).ToList();
            case object?[] a:
                return a.Select(x => Materialise(x, data, done, source)).ToArray();
            default:
                return v;
        }
    }
}

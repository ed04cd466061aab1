using System.Buffers.Binary;
using System.Text.Json;

namespace Fusion.Tests.Support;

/// <summary>The string map <c>__metadata__</c> of a safetensors header, where the fixtures record their network config.</summary>
public static class SafetensorsMetadata
{
    public static Dictionary<string, string> Read(string path)
    {
        using var file = File.OpenRead(path);
        using var doc = JsonDocument.Parse(SafetensorsFile.ReadHeader(file));
        return Metadata(doc.RootElement) ?? throw new InvalidDataException($"{path}: no __metadata__ in the safetensors header");
    }

    internal static Dictionary<string, string>? Metadata(JsonElement header) =>
        header.TryGetProperty("__metadata__", out var meta) ? meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "") : null;
}

/// <summary>
/// Every tensor of a safetensors file as raw little-endian bytes with its dtype and shape: the fixtures keep files as U8
/// blobs, read here without going through a tensor library.
/// </summary>
public sealed record SafetensorsFile(IReadOnlyDictionary<string, SafetensorsFile.Entry> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    public sealed record Entry(string DType, long[] Shape, byte[] Data)
    {
        public float[] Float32() => DType == "F32"
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Data).ToArray()
            : throw new InvalidDataException($"tensor is {DType}, not F32");
    }

    public static SafetensorsFile Read(string path)
    {
        using var file = File.OpenRead(path);
        using var doc = JsonDocument.Parse(ReadHeader(file));
        var dataStart = file.Position;
        var tensors = new Dictionary<string, Entry>();
        foreach (var p in doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__"))
        {
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var data = new byte[checked((int)(offsets[1] - offsets[0]))];
            file.Position = dataStart + offsets[0];
            file.ReadExactly(data);
            tensors[p.Name] = new Entry(p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(), data);
        }
        return new SafetensorsFile(tensors, SafetensorsMetadata.Metadata(doc.RootElement) ?? []);
    }

    /// <summary>The JSON header: an 8-byte little-endian length, then that many bytes; leaves the stream at the data.</summary>
    internal static byte[] ReadHeader(Stream file)
    {
        Span<byte> len = stackalloc byte[8];
        file.ReadExactly(len);
        var header = new byte[checked((int)BinaryPrimitives.ReadUInt64LittleEndian(len))];
        file.ReadExactly(header);
        return header;
    }
}

using System.Buffers.Binary;
using System.Text.Json;

namespace Fusion.Tests.Support;

/// <summary>The string map <c>__metadata__</c> of a safetensors header, where the fixtures record their network config.</summary>
public static class SafetensorsMetadata
{
    public static Dictionary<string, string> Read(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> len = stackalloc byte[8];
        file.ReadExactly(len);
        var header = new byte[checked((int)BinaryPrimitives.ReadUInt64LittleEndian(len))];
        file.ReadExactly(header);
        using var doc = JsonDocument.Parse(header);
        return doc.RootElement.TryGetProperty("__metadata__", out var meta)
            ? meta.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : throw new InvalidDataException($"{path}: no __metadata__ in the safetensors header");
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Artifacts.Store;

/// <summary>
/// The JSON form of manifests and engine documents (camelCase, indented, so a human can read them), shared by every
/// store so an artifact copied between stores keeps a byte-identical manifest.
/// </summary>
public static class ManifestJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T? Deserialize<T>(byte[]? bytes) => bytes is null ? default : JsonSerializer.Deserialize<T>(bytes, Options);

    /// <summary>Parses a manifest; throws <see cref="InvalidDataException"/> naming <paramref name="source"/> when it is not one.</summary>
    public static Manifest Deserialize(ReadOnlySpan<byte> json, string source)
    {
        Manifest? m;
        try { m = JsonSerializer.Deserialize<Manifest>(json, Options); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not a manifest ({e.Message})", e); }
        if (m?.Fingerprint is null || m.Info is null || m.Files is null || m.Files.Any(f => f?.Name is null || f.Sha256 is null))
            throw new InvalidDataException($"{source}: manifest lacks its fingerprint, info or file list");
        return m;
    }
}

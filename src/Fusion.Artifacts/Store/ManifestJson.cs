using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Artifacts.Store;

/// <summary>The JSON form of manifests and engine documents (camelCase, indented, so a human can read them).</summary>
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
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Worker.Documents;

/// <summary>JSON settings of the worker's documents: camelCase, enums as strings, indented (people read them).</summary>
public static class WorkerJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T Deserialize<T>(byte[] bytes, string what) =>
        JsonSerializer.Deserialize<T>(bytes, Options) ?? throw new InvalidDataException($"{what}: empty JSON document");

    public static async Task<T?> GetAsync<T>(this IDocumentStore store, string path, CancellationToken ct) where T : class =>
        await store.GetAsync(path, ct) is { } bytes ? Deserialize<T>(bytes, path) : null;
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Fusion.Artifacts.Store;

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

    /// <summary>The document, or null when it does not exist; throws <see cref="DocumentCorruptException"/> naming it when it
    /// cannot be read (claims and baselines decide what runs, so a damaged one stops the caller instead of counting as absent).</summary>
    public static async Task<T?> GetAsync<T>(this IDocumentStore store, string path, CancellationToken ct) where T : class
    {
        if (await store.GetAsync(path, ct) is not { } bytes) return null;
        try { return Deserialize<T>(bytes, path); }
        catch (Exception e) when (e is JsonException or InvalidDataException) { throw new DocumentCorruptException(store.Describe(path), e.Message); }
    }
}

using System.Text.Json;

namespace Fusion.Artifacts.Store;

/// <summary>
/// The one on-disk / on-blob format of <see cref="Manifest"/> (System.Text.Json, camelCase, indented), shared by every
/// store so an artifact copied between stores keeps a byte-identical manifest.
/// </summary>
public static class ManifestJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static byte[] Serialize(Manifest manifest) => JsonSerializer.SerializeToUtf8Bytes(manifest, Options);

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

using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Fusion.Datasets.Images;
using Fusion.Tests.Support;
using Xunit.Abstractions;

namespace Fusion.Tests.Datasets;

/// <summary>
/// JPEG edge cases against Pillow 9.4 (fixture <c>jpeg-decode</c>, made by the project and read from the repository):
/// each image Pillow decodes must decode to the same RGB bytes (SHA-256), in the same mode and size; each image Pillow
/// rejects must be rejected as invalid or unsupported data.
/// </summary>
public sealed class JpegDecodeFixtureTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryCaseDecodesAsPillowDoesOrFailsWhereItFails()
    {
        var fixture = SafetensorsFile.Read(Path.Combine(Fixtures.RepoRoot, "tests", "fixtures", "jpeg-decode", "io.safetensors"));
        using var doc = JsonDocument.Parse(fixture.Metadata["images"]);
        var failures = new List<string>();
        var cases = doc.RootElement.EnumerateArray().ToList();
        if (fixture.Metadata.TryGetValue("count", out var count)) Assert.Equal(int.Parse(count, CultureInfo.InvariantCulture), cases.Count);
        Assert.NotEmpty(cases);
        foreach (var image in cases)
        {
            var k = image.GetProperty("index").GetInt32();
            var what = $"image{k}.jpg ({image.GetProperty("case").GetString()})";
            var problem = Check(fixture.Tensors[$"image{k}.jpg"].Data, image);
            output.WriteLine($"{what}: {problem ?? "as Pillow"}");
            if (problem is not null) failures.Add($"{what}: {problem}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string? Check(byte[] jpeg, JsonElement image)
    {
        if (image.TryGetProperty("pillow_error", out var error))
        {
            try { PillowJpeg.Decode(jpeg); }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException) { return null; }
            return $"decoded, where Pillow raises {error.GetString()}";
        }
        var decoded = PillowJpeg.Decode(jpeg);
        var (width, height, mode) = (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32(), image.GetProperty("mode").GetString());
        if ((decoded.Width, decoded.Height, decoded.Mode.ToString()) != (width, height, mode))
            return $"{decoded.Width}×{decoded.Height} {decoded.Mode}, Pillow {width}×{height} {mode}";
        var sha = Convert.ToHexStringLower(SHA256.HashData(decoded.ToRgb()));
        return sha == image.GetProperty("decoded_sha256").GetString() ? null : $"RGB SHA-256 {sha}, Pillow's {image.GetProperty("decoded_sha256").GetString()}";
    }
}

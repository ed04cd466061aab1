using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Fusion.Datasets.Coco;
using Fusion.Datasets.Images;
using Fusion.Tests.Support;
using Xunit.Abstractions;

namespace Fusion.Tests.Datasets;

/// <summary>
/// The authors' MS-COCO preprocessing on Pillow 9.4 (fixture <c>coco-preprocess</c>): every image the metadata lists is
/// decoded and compared with Pillow's decoded array (SHA-256 and sum), centre-cropped and LANCZOS-resized and compared
/// with the uint8 crop exactly, and scaled to [−1, 1] and compared with the first row of x bit for bit. Sizes, count and
/// images come from the file.
/// </summary>
public sealed class CocoPreprocessFixtureTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryListedImageMatchesTheAuthorsPreprocessingExactly()
    {
        var fixture = SafetensorsFile.Read(Fixtures.Path("coco-preprocess", "io.safetensors"));
        var images = Listed(fixture.Metadata);
        if (fixture.Metadata.TryGetValue("count", out var count)) Assert.Equal(int.Parse(count, CultureInfo.InvariantCulture), images.Count);
        Assert.NotEmpty(images);
        // An image's k is its listed index, else its place in the list; every image{k}.jpg the file holds is listed.
        var indices = images.Select((image, i) => image.TryGetProperty("index", out var index) ? index.GetInt32() : i).ToList();
        var held = fixture.Tensors.Keys.Where(n => n.StartsWith("image", StringComparison.Ordinal) && n.EndsWith(".jpg", StringComparison.Ordinal));
        Assert.Equal(held.Order(StringComparer.Ordinal), indices.Select(k => $"image{k}.jpg").Order(StringComparer.Ordinal));
        var failures = new List<string>();
        foreach (var (image, k) in images.Zip(indices))
        {
            var problems = Check(fixture, image, k).ToList();
            output.WriteLine($"image{k}.jpg: {(problems.Count == 0 ? "exact" : string.Join("; ", problems))}");
            failures.AddRange(problems.Select(p => $"image{k}.jpg: {p}"));
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static IEnumerable<string> Check(SafetensorsFile fixture, JsonElement image, int k)
    {
        var file = fixture.Tensors[$"image{k}.jpg"].Data;
        var decoded = PillowJpeg.Decode(file);
        var (width, height) = (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32());
        if ((decoded.Width, decoded.Height) != (width, height)) yield return $"decoded {decoded.Width}×{decoded.Height}, listed {width}×{height}";
        if (decoded.Mode.ToString() != image.GetProperty("mode").GetString()) yield return $"mode {decoded.Mode}, listed {image.GetProperty("mode")}";
        var rgb = decoded.ToRgb();
        var sha = Convert.ToHexStringLower(SHA256.HashData(rgb));
        if (sha != image.GetProperty("decoded_sha256").GetString()) yield return $"decoded RGB SHA-256 {sha}, Pillow's {image.GetProperty("decoded_sha256")}";
        if (image.TryGetProperty("decoded_sum", out var sum) && rgb.Sum(b => (long)b) != sum.GetInt64())
            yield return $"decoded RGB sum {rgb.Sum(b => (long)b)}, Pillow's {sum}";

        var expected = fixture.Tensors[$"crop{k}"];
        var size = (int)expected.Shape[0];
        Assert.Equal(new long[] { size, size, 3 }, expected.Shape);
        if (fixture.Metadata.TryGetValue("size", out var stated)) Assert.Equal(int.Parse(stated, CultureInfo.InvariantCulture), size);
        var crop = CocoImagePreprocessing.CenterCropResize(CocoImagePreprocessing.OpenRgb(file), size);
        Assert.Equal(expected.Data.Length, crop.Pixels.Length);
        var wrong = Enumerable.Range(0, expected.Data.Length).Where(i => crop.Pixels[i] != expected.Data[i]).ToList();
        if (wrong.Count > 0)
            yield return $"{wrong.Count} crop values differ, first at (x {wrong[0] / 3 % size}, y {wrong[0] / 3 / size}, channel {wrong[0] % 3}): " +
                         $"{crop.Pixels[wrong[0]]} vs {expected.Data[wrong[0]]}";

        var firstRow = fixture.Tensors[$"x{k}.first_row"].Float32();
        var x = CocoImagePreprocessing.ToChw(crop);
        for (var c = 0; c < 3; c++)
            for (var i = 0; i < size; i++)
                if (BitConverter.SingleToInt32Bits(x[c * size * size + i]) != BitConverter.SingleToInt32Bits(firstRow[c * size + i]))
                {
                    yield return $"x[{c}, 0, {i}] = {x[c * size * size + i]:R}, expected {firstRow[c * size + i]:R}";
                    yield break;
                }
    }

    /// <summary>Metadata <c>images</c>: a list of per-image dicts (Python repr or JSON).</summary>
    private static List<JsonElement> Listed(IReadOnlyDictionary<string, string> metadata)
    {
        Assert.True(metadata.TryGetValue("images", out var listed), "the fixture's metadata has no 'images' list");
        using var doc = JsonDocument.Parse(PythonLiteral.ToJson(listed!));
        return [.. doc.RootElement.EnumerateArray().Select(e => e.Clone())];
    }
}

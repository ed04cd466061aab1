using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fusion.Datasets.Images;
using Fusion.Models.Clip;
using Fusion.Tests.Support;
using Xunit.Abstractions;

namespace Fusion.Tests.Clip;

/// <summary>
/// openai/CLIP <c>_transform(n_px)</c> on Pillow 9.4 (fixture <c>clip-preprocess</c>): every <c>image{k}.png</c> in the
/// file is decoded, preprocessed and compared with row k of <c>pixel_values</c>. Pillow's integer resampling is ported
/// exactly, so the uint8 crop must match exactly (1e-6 on the normalised values is far below one level, ≈0.0146).
/// </summary>
public partial class ClipPreprocessFixtureTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"^image(\d+)\.png$")]
    private static partial Regex ImageName();

    [Fact]
    public void EveryImageMatchesOpenAiClipPreprocessing()
    {
        var fixture = SafetensorsFile.Read(Fixtures.Path("clip-preprocess", "io.safetensors"));
        var expected = fixture.Tensors["pixel_values"];
        var (n, size) = ((int)expected.Shape[0], (int)expected.Shape[2]);
        Assert.Equal(new long[] { n, 3, size, size }, expected.Shape);
        var values = expected.Float32();
        var modes = DescribedModes(fixture.Metadata);
        // The normalisation the reference used (when the file states it) must be the one we apply: a fixture made
        // with other constants fails here by name rather than as a pixel mismatch.
        if (fixture.Metadata.TryGetValue("n_px", out var nPx)) Assert.Equal(int.Parse(nPx, CultureInfo.InvariantCulture), size);
        foreach (var (key, ours) in new[] { ("mean", ClipImagePreprocessor.Mean), ("std", ClipImagePreprocessor.Std) })
            if (fixture.Metadata.TryGetValue(key, out var stated))
                Assert.True(Triple(stated).SequenceEqual(ours.Select(v => (float)v)), $"metadata {key} {stated}, ours ({string.Join(", ", ours)})");
        var images = fixture.Tensors.Keys.Select(k => ImageName().Match(k)).Where(m => m.Success)
            .Select(m => (Name: m.Value, Index: int.Parse(m.Groups[1].Value))).OrderBy(i => i.Index).ToList();
        Assert.NotEmpty(images);
        Assert.Equal(n, images.Count);
        Assert.All(images, i => Assert.InRange(i.Index, 0, n - 1));

        var failures = new List<string>();
        foreach (var (name, k) in images)
        {
            var image = PillowPng.Decode(fixture.Tensors[name].Data);
            if (modes.TryGetValue(k, out var described) && described != PillowName(image.Mode))
                failures.Add($"{name}: decoded as mode {PillowName(image.Mode)}, the fixture says {described}");
            var got = ClipImagePreprocessor.Preprocess(image, size);
            var want = values.AsMemory(k * got.Length, got.Length);
            // The worst pixel; a non-finite value counts as the worst of all (and fails).
            var worst = 0;
            float Delta(int i) => float.IsFinite(got[i]) ? Math.Abs(got[i] - want.Span[i]) : float.PositiveInfinity;
            for (var i = 1; i < got.Length; i++)
                if (Delta(i) > Delta(worst)) worst = i;
            var delta = Delta(worst);
            output.WriteLine($"{name} ({image.Width}×{image.Height} {PillowName(image.Mode)}): max |Δ| = {delta:E2}");
            if (!(delta <= 1e-6))
            {
                var (c, y, x) = (worst / (size * size), worst / size % size, worst % size);
                failures.Add($"{name} ({image.Width}×{image.Height} {PillowName(image.Mode)}): max |Δ| = {delta:E3} at channel {c}, " +
                    $"crop pixel (x {x}, y {y}): got u8 {Level(got[worst], c)}, expected u8 {Level(want.Span[worst], c)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>A Python tuple of floats, "(0.48, 0.45, 0.40)", as float32 values.</summary>
    private static float[] Triple(string text) =>
        [.. text.Trim('(', ')', '[', ']', ' ').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(v => (float)double.Parse(v, CultureInfo.InvariantCulture))];

    /// <summary>The uint8 level behind a normalised value (the fixture README's inverse).</summary>
    private static int Level(float v, int c) =>
        (int)Math.Round((v * ClipImagePreprocessor.Std[c] + ClipImagePreprocessor.Mean[c]) * 255);

    private static string PillowName(PilMode mode) => mode == PilMode.Bilevel ? "1" : mode.ToString();

    /// <summary>Metadata <c>images</c> (when present): index → Pillow mode, to check the decoder picked Pillow's mode.</summary>
    private static Dictionary<int, string> DescribedModes(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("images", out var json)) return [];
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray()
            .Where(e => e.TryGetProperty("index", out _) && e.TryGetProperty("mode", out _))
            .ToDictionary(e => e.GetProperty("index").GetInt32(), e => e.GetProperty("mode").GetString()!);
    }
}

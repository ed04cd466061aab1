using Fusion.Artifacts.Tables;
using Fusion.Datasets.Shapes;
using Fusion.Tests.Support;

namespace Fusion.Tests.Datasets;

public sealed class ShapesTests
{
    const long Seed = 2024;

    [Fact]
    public void Captions_state_count_colour_shape_and_relation()
    {
        var c = new ShapesCaption(new ShapeGroup(2, ShapeColour.Red, ShapeKind.Circle), Relation.LeftOf, new ShapeGroup(1, ShapeColour.Blue, ShapeKind.Square));
        Assert.Equal("two red circles to the left of a blue square", c.Text);
        Assert.Equal("a blue square to the right of two red circles", c.Converse!.Text);
        Assert.Equal("four yellow triangles", new ShapesCaption(new ShapeGroup(4, ShapeColour.Yellow, ShapeKind.Triangle)).Text);
    }

    [Fact]
    public void Generation_is_a_pure_function_of_seed_split_and_index()
    {
        var a = ShapesGenerator.Generate(ShapesSplit.Train, 5, Seed);
        var b = ShapesGenerator.Generate(ShapesSplit.Train, 5, Seed);
        Assert.Equal(a.Rgb, b.Rgb);
        Assert.Equal(a.Captions, b.Captions);
        Assert.NotEqual(a.Rgb, ShapesGenerator.Generate(ShapesSplit.Train, 5, Seed + 1).Rgb);
        var val = ShapesGenerator.Generate(ShapesSplit.Val, 5, Seed);
        Assert.NotEqual(a.Rgb, val.Rgb);
        Assert.Equal(ShapesGenerator.ValIdOffset + 5, val.ImageId);
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Train, 300, Seed).ToList();
        Assert.All(samples, s => Assert.InRange(s.Objects.Count, 1, 4));
        Assert.Equal([1, 2, 3, 4], samples.Select(s => s.Objects.Count).Distinct().Order());
        Assert.Equal(4, samples.Where(s => s.Captions[0].Second is not null).Select(s => s.Captions[0].Relation).Distinct().Count());
        Assert.All(samples, s => Assert.Equal(s.Captions[0].TotalCount, s.Objects.Count));
    }

    static bool AgreesWithGroundTruth(ShapesSample s, IReadOnlyList<DetectedObject> found)
    {
        if (found.Count != s.Objects.Count) return false;
        var truth = s.Objects.Select(o => (o.Colour, o.Shape, o.CenterX)).OrderBy(t => t.CenterX).ThenBy(t => t.Colour).ToList();
        return s.Captions.All(c => AlignmentScorer.Score(found, c).All)
               && found.All(f => s.Objects.Any(o => o.Colour == f.Colour && o.Shape == f.Shape && Math.Abs(o.CenterX - f.CenterX) <= 1.0
                                                   && f.CenterY >= o.Y0 && f.CenterY <= o.Y0 + o.Size));
    }

    [Fact]
    public void Scorer_agrees_with_ground_truth_on_generated_images()
    {
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Val, 400, Seed).ToList();
        var agree = samples.Count(s => AgreesWithGroundTruth(s, AlignmentScorer.Detect(s.Rgb, s.Size)));
        Assert.True(agree >= 0.99 * samples.Count, $"scorer agrees with ground truth on {agree}/{samples.Count} images");
        var summary = AlignmentScorer.Summarize(samples.Select(s => AlignmentScorer.Score(s.Rgb, s.Size, s.Captions[0])).ToList());
        Assert.True(summary.AllCorrect >= 0.99);
        Assert.True(summary.RelationImages > 200);
    }

    [Theory]
    [InlineData(32, 0.75, 0.875)]
    [InlineData(48, 0.55, 0.6)]
    public void Object_sizes_stay_within_the_options_and_the_scorer_still_agrees(int size, double min, double max)
    {
        var options = new ShapesOptions { Size = size, ObjectSizeMin = min, ObjectSizeMax = max };
        var cell = size / 2;
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Train, 200, Seed, options).ToList();
        var sides = samples.SelectMany(s => s.Objects).Select(o => o.Size).ToList();
        Assert.Equal((int)Math.Round(min * cell), sides.Min());
        Assert.Equal((int)Math.Round(max * cell), sides.Max());
        Assert.All(samples.SelectMany(s => s.Objects), o =>
        {
            var (col, row) = ((int)(o.CenterX / cell), (int)(o.CenterY / cell));
            Assert.InRange(o.X0, col * cell + 1, (col + 1) * cell - 1 - o.Size);
            Assert.InRange(o.Y0, row * cell + 1, (row + 1) * cell - 1 - o.Size);
        });
        Assert.True(samples.Count(s => AgreesWithGroundTruth(s, AlignmentScorer.Detect(s.Rgb, size))) >= 0.99 * samples.Count);
    }

    [Theory]
    [InlineData(0.55, 0.95)]   // 15 of 16 pixels: no margin
    [InlineData(0.8, 0.6)]     // min above max
    [InlineData(0.3, 0.5)]     // smaller than the scorer's smallest object
    public void Object_sizes_without_a_margin_or_out_of_order_are_refused(double min, double max)
    {
        var e = Assert.Throws<ArgumentException>(() => ShapesGenerator.Generate(ShapesSplit.Train, 0, Seed, new ShapesOptions { ObjectSizeMin = min, ObjectSizeMax = max }));
        Assert.Contains("object size", e.Message);
    }

    [Fact]
    public void Palette_colours_are_far_apart_and_far_from_the_background()
    {
        var rgb = Enum.GetValues<ShapeColour>().Select(c => (Name: c.ToString(), Rgb: ShapesVocabulary.Rgb(c))).Append((Name: "background", Rgb: ShapesVocabulary.Background)).ToList();
        static double Dist((byte R, byte G, byte B) a, (byte R, byte G, byte B) b) => Math.Sqrt(Math.Pow(a.R - b.R, 2) + Math.Pow(a.G - b.G, 2) + Math.Pow(a.B - b.B, 2));
        foreach (var a in rgb)
            foreach (var b in rgb.Where(b => string.CompareOrdinal(a.Name, b.Name) < 0))
                // Far enough that a pixel within the scorer's reach of one colour is nearer to it than to any other.
                Assert.True(Dist(a.Rgb, b.Rgb) >= 130, $"{a.Name} and {b.Name} are only {Dist(a.Rgb, b.Rgb):F0} apart");
        Assert.All(rgb.SkipLast(1), c => Assert.True(Dist(c.Rgb, ShapesVocabulary.Background) > AlignmentScorer.MaxColourDistance));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(7)]
    public void Captions_use_the_first_colours_of_the_palette_and_the_scorer_reads_them(int colours)
    {
        var options = new ShapesOptions { Colours = colours, RelationFraction = 0 };
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Val, 420, Seed, options).ToList();
        Assert.Equal(Enum.GetValues<ShapeColour>().Take(colours), samples.SelectMany(s => s.Objects.Select(o => o.Colour)).Distinct().Order());
        Assert.True(samples.Count(s => AgreesWithGroundTruth(s, AlignmentScorer.Detect(s.Rgb, s.Size))) >= 0.99 * samples.Count);
        var found = samples.Select(s => AlignmentScorer.Detect(s.Rgb, s.Size)).ToList();
        var chance = AlignmentScorer.CaptionBlind(found, samples.Select(s => s.Captions[0]).ToList());
        Assert.InRange(chance.ColourAccuracy, 1.0 / colours - 0.05, 1.0 / colours + 0.05);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void A_palette_of_fewer_than_two_or_more_than_seven_colours_is_refused(int colours)
    {
        var e = Assert.Throws<ArgumentException>(() => ShapesGenerator.Generate(ShapesSplit.Train, 0, Seed, new ShapesOptions { Colours = colours }));
        Assert.Contains($"{colours} colours", e.Message);
        Assert.Contains("2 to 7", e.Message);
    }

    [Fact]
    public void Scorer_agrees_on_64px_images_and_on_mildly_noisy_float_images()
    {
        var big = ShapesGenerator.GenerateSplit(ShapesSplit.Train, 150, Seed, new ShapesOptions { Size = 64 }).ToList();
        Assert.True(big.Count(s => AgreesWithGroundTruth(s, AlignmentScorer.Detect(s.Rgb, 64))) >= 0.99 * big.Count);
        var rng = new Random(3);
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Train, 200, Seed).ToList();
        var agree = samples.Count(s =>
        {
            var chw = ShapesRenderer.ToChw(s.Rgb, s.Size).Select(v => v / 127.5f - 1f + (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
            return AgreesWithGroundTruth(s, AlignmentScorer.Detect(chw, s.Size));
        });
        Assert.True(agree >= 0.99 * samples.Count, $"{agree}/{samples.Count} with ±0.1 noise");
    }

    [Fact]
    public void Every_shape_is_classified_at_every_size_the_generator_draws()
    {
        foreach (var kind in Enum.GetValues<ShapeKind>())
            for (var size = 9; size <= 13; size++)
            {
                var o = new ShapeObject(kind, ShapeColour.Green, 3, 4, size, 0);
                var found = Assert.Single(AlignmentScorer.Detect(ShapesRenderer.Render([o], 32), 32));
                Assert.True(found.Shape == kind, $"{kind} of size {size} classified as {found.Shape} (fill {found.Fill:F3})");
            }
    }

    [Fact]
    public void Scorer_rejects_blank_swapped_and_miscounted_images()
    {
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Val, 200, Seed).ToList();
        var blank = AlignmentScorer.Score(new byte[32 * 32 * 3], 32, samples[0].Captions[0]);
        Assert.False(blank.Count || blank.Colour || blank.Shape || blank.Binding || blank.Relation == true);

        var swappable = samples.Where(s => s.Captions[0].Second is { } b && b.Colour != s.Captions[0].First.Colour).ToList();
        Assert.True(swappable.Count > 50);
        foreach (var s in swappable)
        {
            var (ca, cb) = (s.Captions[0].First.Colour, s.Captions[0].Second!.Colour);
            var swapped = s.Objects.Select(o => o with { Colour = o.Group == 0 ? cb : ca }).ToList();
            var r = AlignmentScorer.Score(ShapesRenderer.Render(swapped, 32), 32, s.Captions[0]);
            Assert.False(r.All, $"swapped colours accepted for '{s.Captions[0]}'");
            Assert.False(r.Relation);
        }

        foreach (var s in samples.Where(s => s.Objects.Count > 1).Take(50))
        {
            var r = AlignmentScorer.Score(ShapesRenderer.Render(s.Objects.Skip(1), 32), 32, s.Captions[0]);
            Assert.False(r.Count);
            Assert.False(r.All);
        }
        // Attributes are judged separately: a one-group image with an object missing has the wrong count only.
        foreach (var s in samples.Where(s => s.Captions[0].Second is null && s.Objects.Count > 1).Take(20))
        {
            var r = AlignmentScorer.Score(ShapesRenderer.Render(s.Objects.Skip(1), 32), 32, s.Captions[0]);
            Assert.True(r.Colour && r.Shape && r.Binding, $"'{s.Captions[0]}' with one object missing lost more than its count");
        }

        var circles = samples.First(s => s.Captions[0].Second is null && s.Captions[0].First.Shape == ShapeKind.Circle);
        var asSquares = AlignmentScorer.Score(ShapesRenderer.Render(circles.Objects.Select(o => o with { Shape = ShapeKind.Square }), 32), 32, circles.Captions[0]);
        Assert.True(asSquares.Count && asSquares.Colour);
        Assert.False(asSquares.Shape);
    }

    [Fact]
    public void Caption_blind_chance_is_one_in_four_colours_three_shapes_four_counts()
    {
        var samples = ShapesGenerator.GenerateSplit(ShapesSplit.Val, 240, Seed, new ShapesOptions { RelationFraction = 0 }).ToList();
        var found = samples.Select(s => AlignmentScorer.Detect(s.Rgb, s.Size)).ToList();
        var chance = AlignmentScorer.CaptionBlind(found, samples.Select(s => s.Captions[0]).ToList());
        Assert.Equal(240 * 239, chance.Images);
        // Uniform draws: 1/4, 1/3, 1/4, 1/12 for binding, 1/48 for all; ±0.04 covers the sampling of 240 captions.
        Assert.InRange(chance.ColourAccuracy, 0.21, 0.29);
        Assert.InRange(chance.ShapeAccuracy, 0.29, 0.37);
        Assert.InRange(chance.CountAccuracy, 0.21, 0.29);
        Assert.InRange(chance.BindingAccuracy, 0.05, 0.12);
        Assert.InRange(chance.AllCorrect, 0.005, 0.04);
        // Scored against their own captions the same images are perfect, so the floor is not the scorer failing.
        Assert.Equal(1.0, AlignmentScorer.Summarize(samples.Select((s, i) => AlignmentScorer.Score(found[i], s.Captions[0])).ToList()).AllCorrect);
    }

    [Fact]
    public async Task A_split_is_written_as_the_pipeline_tables_and_scores_back_from_them()
    {
        using var dir = new TempDir();
        var files = await ShapesDataset.WriteAsync(dir.Path, ShapesSplit.Train, 60, Seed);
        var captions = await CaptionsTable.ReadAllAsync(files.Captions);
        var meanings = await ShapesDataset.ReadCaptionMeaningsAsync(files.CaptionMeta);
        Assert.Equal(captions.Count, meanings.Count);
        Assert.All(captions, c => Assert.Equal(c.Text, meanings[c.CaptionId].Text));
        var objects = await RecordsTable.ReadAllAsync<ShapesObjectRecord>(files.Objects);
        await using var images = await TensorTableReader.OpenAsync(files.Images, TensorSpec.UInt8(3, 32, 32));
        Assert.Equal(60, images.RowCount);
        Assert.Equal("2024", images.Metadata["shapes.seed"]);
        var n = 0;
        await foreach (var row in images.ReadAllAsync())
        {
            Assert.Equal(n, row.Int64Key);
            var rgb = ShapesRenderer.FromChw(row.Payload, 32);
            Assert.Equal(ShapesGenerator.Generate(ShapesSplit.Train, n, Seed).Rgb, rgb);
            foreach (var c in captions.Where(c => c.ImageId == row.Int64Key))
                Assert.True(AlignmentScorer.Score(rgb, 32, meanings[c.CaptionId]).All);
            Assert.Equal(ShapesGenerator.Generate(ShapesSplit.Train, n, Seed).Objects.Count, objects.Count(o => o.ImageId == row.Int64Key));
            n++;
        }
        Assert.Equal(60, n);
    }
}

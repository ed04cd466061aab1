using Fusion.Artifacts.Tables;
using Fusion.Datasets.Loading;
using Fusion.Datasets.Shapes;
using Fusion.Tests.Support;

namespace Fusion.Tests.Datasets;

public sealed class LoaderTests
{
    /// <summary>40 images (ids 100…139) in row groups of 8, each payload = its id; image 139 has no captions;
    /// image i has 1 + i % 5 captions (id i*10+k), payload = caption id; one caption for unknown image 7.</summary>
    static async Task<(string Images, string Captions)> Build(TempDir dir)
    {
        await using (var w = await TensorTableWriter.CreateAsync(dir["img.parquet"], TensorSpec.Float32(2, 3), rowGroupRows: 8))
            for (long id = 100; id < 141; id++) await w.AddAsync(id, Enumerable.Repeat((float)id, 6).ToArray());
        await using (var w = await TensorTableWriter.CreateAsync(dir["cap.parquet"], TensorSpec.Float32(4), withImageId: true, rowGroupRows: 16))
        {
            for (long id = 100; id < 141; id++)
                if (id != 139)
                    for (var k = 0; k < 1 + id % 5; k++) await w.AddAsync(id * 10 + k, Enumerable.Repeat((float)(id * 10 + k), 4).ToArray(), imageId: id);
            await w.AddAsync(70, new float[4], imageId: 7);
        }
        return (dir["img.parquet"], dir["cap.parquet"]);
    }

    [Fact]
    public async Task Each_epoch_visits_every_captioned_image_once_with_one_of_its_captions()
    {
        using var dir = new TempDir();
        var (img, cap) = await Build(dir);
        await using var loader = await TrainingDataLoader.OpenAsync([img], [cap], new TrainingDataOptions { BatchSize = 8, Seed = 5, WindowRowGroups = 2 });
        Assert.Equal(40, loader.ImageCount);
        Assert.Equal(5, loader.BatchesPerEpoch);
        Assert.Equal([139L], loader.ImagesWithoutCaptions);
        Assert.Equal(1, loader.CaptionsOfUnknownImages);
        var orders = new List<long[]>();
        var draws = new Dictionary<long, HashSet<long>>();
        for (var epoch = 0; epoch < 6; epoch++)
        {
            var seen = new List<long>();
            for (var b = 0; b < 5; b++)
            {
                var batch = await loader.NextAsync();
                Assert.Equal(new LoaderPosition(epoch, b), batch.Position);
                for (var i = 0; i < batch.Count; i++)
                {
                    var id = batch.ImageIds[i];
                    Assert.Equal(id, batch.CaptionIds[i] / 10);
                    Assert.InRange(batch.CaptionIds[i] % 10, 0, id % 5);
                    Assert.Equal((float)id, batch.Images[i * 6 + 5]);
                    Assert.Equal((float)batch.CaptionIds[i], batch.Contexts[i * 4 + 3]);
                    (draws.TryGetValue(id, out var set) ? set : draws[id] = []).Add(batch.CaptionIds[i]);
                }
                seen.AddRange(batch.ImageIds);
            }
            Assert.Equal(Enumerable.Range(100, 39).Select(i => (long)i).Append(140), seen.Order());
            orders.Add(seen.ToArray());
        }
        Assert.Equal(6, orders.Select(o => string.Join(",", o)).Distinct().Count());
        Assert.True(draws[104].Count > 1, "captions must be drawn afresh each epoch");
        Assert.Single(draws[100]); // one caption only
    }

    [Fact]
    public async Task A_restored_position_continues_the_same_stream()
    {
        using var dir = new TempDir();
        var (img, cap) = await Build(dir);
        var options = new TrainingDataOptions { BatchSize = 6, Seed = 11, WindowRowGroups = 2 };
        var first = new List<TrainingBatch>();
        LoaderPosition saved = default;
        await using (var a = await TrainingDataLoader.OpenAsync([img], [cap], options))
        {
            for (var i = 0; i < 15; i++)
            {
                if (i == 8) saved = a.Position;
                first.Add(await a.NextAsync());
            }
        }
        Assert.Equal(saved, LoaderPosition.Parse(saved.ToString()));
        await using var b = await TrainingDataLoader.OpenAsync([img], [cap], options);
        b.Seek(LoaderPosition.Parse(saved.ToString()));
        for (var i = 8; i < 15; i++)
        {
            var again = await b.NextAsync();
            Assert.Equal(first[i].Position, again.Position);
            Assert.Equal(first[i].ImageIds, again.ImageIds);
            Assert.Equal(first[i].CaptionIds, again.CaptionIds);
            Assert.Equal(first[i].Images, again.Images);
            Assert.Equal(first[i].Contexts, again.Contexts);
        }
        await using var other = await TrainingDataLoader.OpenAsync([img], [cap], options with { Seed = 12 });
        Assert.NotEqual(first[0].ImageIds, (await other.NextAsync()).ImageIds);
    }

    [Fact]
    public async Task Shapes_pixels_and_embeddings_become_batched_tensors()
    {
        using var dir = new TempDir();
        var files = await ShapesDataset.WriteAsync(dir["shapes"], ShapesSplit.Train, 24, seed: 3);
        await using (var w = await TensorTableWriter.CreateAsync(dir["emb.parquet"], TensorSpec.Float32(77, 8), withImageId: true))
            foreach (var row in await CaptionsTable.ReadAllAsync(files.Captions))
                await w.AddAsync(row.CaptionId, Enumerable.Repeat((float)row.CaptionId, 77 * 8).ToArray(), imageId: row.ImageId);
        await using var loader = await TrainingDataLoader.OpenAsync([files.Images], [dir["emb.parquet"]], new TrainingDataOptions { BatchSize = 8, Seed = 1 });
        var batch = await loader.NextAsync();
        var (x, c) = batch.ToTensors(TorchSharp.torch.CPU);
        using (x) using (c)
        {
            Assert.Equal([8L, 3, 32, 32], x.shape);
            Assert.Equal([8L, 77, 8], c.shape);
            Assert.Equal(-1f, x.min().item<float>());
            Assert.True(x.max().item<float>() > 0.5f);
        }
        var sample = ShapesGenerator.Generate(ShapesSplit.Train, (int)batch.ImageIds[0], 3);
        var expected = ShapesRenderer.ToChw(sample.Rgb, 32).Select(v => v / 127.5f - 1f).ToArray();
        Assert.Equal(expected, batch.Images.AsSpan(0, 3 * 32 * 32).ToArray());
    }

    [Fact]
    public async Task Bad_shards_are_clear_errors()
    {
        using var dir = new TempDir();
        var (img, cap) = await Build(dir);
        await using (var w = await TensorTableWriter.CreateAsync(dir["img16.parquet"], new TensorSpec(TensorDType.Float16, [2, 3])))
            await w.AddAsync(500, new byte[12]);
        var e = await Assert.ThrowsAsync<TableFormatException>(() => TrainingDataLoader.OpenAsync([img, dir["img16.parquet"]], [cap], new TrainingDataOptions { BatchSize = 4, Seed = 0 }));
        Assert.Contains("img16.parquet", e.Message);
        var big = await Assert.ThrowsAsync<ArgumentException>(() => TrainingDataLoader.OpenAsync([img], [cap], new TrainingDataOptions { BatchSize = 64, Seed = 0 }));
        Assert.Contains("fewer than one batch of 64", big.Message);
        var noImageId = await Assert.ThrowsAsync<ArgumentException>(() => TrainingDataLoader.OpenAsync([img], [img], new TrainingDataOptions { BatchSize = 4, Seed = 0 }));
        Assert.Contains("no image_id column", noImageId.Message);
        Assert.Throws<FormatException>(() => LoaderPosition.Parse("3-4"));
    }
}

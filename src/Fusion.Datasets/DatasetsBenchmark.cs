using System.Diagnostics;
using System.Globalization;
using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Datasets.Loading;
using Fusion.Datasets.Shapes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace Fusion.Datasets;

/// <summary>
/// `fusion bench datasets [-s images=64] [-s rows=500] [-s shapes=2000]`: COCO preprocessing as Pillow computes it
/// (decode + centre crop + LANCZOS 256; 640×480 JPEGs, one core and all cores), Parquet write/read of a 77×768 float32 embedding table (Snappy and
/// uncompressed; random values, so incompressible), the training loader over such tables, and shapes generation and
/// scoring (one core).
/// </summary>
public static class DatasetsBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options) =>
        RunAsync(options).GetAwaiter().GetResult();

    /// <summary>Wall and process CPU seconds of <paramref name="work"/>: on a shared machine the CPU-time rate is the fair one.</summary>
    static async Task<(double Wall, double Cpu)> Time(Func<Task> work)
    {
        var p = Process.GetCurrentProcess();
        var cpu0 = p.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await work();
        p.Refresh();
        return (sw.Elapsed.TotalSeconds, (p.TotalProcessorTime - cpu0).TotalSeconds);
    }

    static void Add(List<(string, double, string)> rows, string metric, double amount, string unit, (double Wall, double Cpu) t)
    {
        rows.Add((metric + " (wall)", amount / t.Wall, unit + "/s"));
        rows.Add((metric + " (per CPU-second)", amount / t.Cpu, unit + "/CPU-s"));
    }

    static int Opt(IReadOnlyDictionary<string, string> o, string key, int fallback) =>
        o.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    static async Task<List<(string, double, string)>> RunAsync(IReadOnlyDictionary<string, string> options)
    {
        var rows = new List<(string, double, string)>();
        var dir = Directory.CreateTempSubdirectory("fusion-bench-datasets-").FullName;
        try
        {
            await Images(dir, Opt(options, "images", 64), rows);
            await Tables(dir, Opt(options, "rows", 500), rows);
            await Shapes(Opt(options, "shapes", 2000), rows);
        }
        finally { Directory.Delete(dir, recursive: true); }
        return rows;
    }

    static async Task Images(string dir, int count, List<(string, double, string)> rows)
    {
        var rng = new Random(1);
        var paths = new List<(long, string)>();
        for (var i = 0; i < count; i++)
        {
            using var img = new Image<Rgb24>(640, 480);
            for (var y = 0; y < 480; y++)
                for (var x = 0; x < 640; x++)
                    img[x, y] = new Rgb24((byte)(x / 3 + rng.Next(30)), (byte)(y / 2 + rng.Next(30)), (byte)((x + y) / 5 + rng.Next(30)));
            var p = Path.Combine(dir, $"{i}.jpg");
            img.SaveAsJpeg(p, new JpegEncoder { Quality = 90 });
            paths.Add((i, p));
        }
        var skipped = new List<SkippedImage>();
        for (var pass = 0; pass < 3; pass++) _ = CocoImagePreprocessing.PreprocessInOrder(paths.Take(8), skipped, parallelism: 1).Count(); // JIT tiers settle
        var n = 0;
        var t = await Time(() => { n = CocoImagePreprocessing.PreprocessInOrder(paths, skipped, parallelism: 1).Count(); return Task.CompletedTask; });
        Add(rows, "COCO decode+crop+LANCZOS256 → CHW float, 640×480 JPEG q90, 1 thread", n, "images", t);
        t = await Time(() => { n = CocoImagePreprocessing.PreprocessInOrder(paths, skipped, parallelism: Environment.ProcessorCount).Count(); return Task.CompletedTask; });
        rows.Add(($"same, {Environment.ProcessorCount} threads (wall)", n / t.Wall, "images/s"));
    }

    static async Task Tables(string dir, int count, List<(string, double, string)> rows)
    {
        var spec = TensorSpec.Float32(77, 768);
        var rng = new Random(2);
        var payloads = Enumerable.Range(0, 16).Select(_ => { var b = new byte[spec.ByteSize]; rng.NextBytes(b); for (var i = 3; i < b.Length; i += 4) b[i] &= 0x3F; return b; }).ToList();
        var mb = (double)count * spec.ByteSize / 1e6;
        async Task WriteRead(TableCompression compression, int n, bool record)
        {
            var path = Path.Combine(dir, $"emb-{compression}.parquet");
            var t = await Time(async () =>
            {
                await using var w = await TensorTableWriter.CreateAsync(path, spec, withImageId: true, compression: compression);
                for (var i = 0; i < n; i++) await w.AddAsync(i, payloads[i % payloads.Count], imageId: i / 5);
                await w.CompleteAsync();
            });
            if (record) Add(rows, $"tensor table write, 77×768 fp32, {compression}, {n} rows", mb, "MB", t);
            long bytes = 0;
            t = await Time(async () =>
            {
                await using var r = await TensorTableReader.OpenAsync(path, spec);
                await foreach (var row in r.ReadAllAsync()) bytes += row.Payload.Length;
            });
            if (record) Add(rows, $"tensor table read, 77×768 fp32, {compression}", bytes / 1e6, "MB", t);
        }
        await WriteRead(TableCompression.Snappy, 300, record: false); // JIT warm-up
        await WriteRead(TableCompression.None, count, record: true);
        await WriteRead(TableCompression.Snappy, count, record: true);
        // The loader over moments (8×32×32) + these contexts, batch 32.
        var moments = Path.Combine(dir, "moments.parquet");
        await using (var w = await TensorTableWriter.CreateAsync(moments, TensorSpec.Float32(8, 32, 32), rowGroupRows: 64))
            for (var i = 0; i < count / 5; i++) await w.AddAsync(i, new byte[8 * 32 * 32 * 4]);
        await using (var loader = await TrainingDataLoader.OpenAsync([moments], [Path.Combine(dir, "emb-None.parquet")], new TrainingDataOptions { BatchSize = 32, Seed = 0 }))
        {
            var samples = 0;
            var t = await Time(async () => { for (var b = 0; b < 3 * loader.BatchesPerEpoch; b++) samples += (await loader.NextAsync()).Count; });
            Add(rows, "training loader, moments 8×32×32 + 77×768 context, batch 32", samples, "samples", t);
        }
    }

    static async Task Shapes(int count, List<(string, double, string)> rows)
    {
        foreach (var w in Enumerable.Range(0, 300).Select(i => ShapesGenerator.Generate(ShapesSplit.Train, i, 0))) AlignmentScorer.Score(w.Rgb, w.Size, w.Captions[0]); // warm-up
        List<ShapesSample> samples = [];
        var t = await Time(() => { samples = Enumerable.Range(0, count).Select(i => ShapesGenerator.Generate(ShapesSplit.Train, i, 7)).ToList(); return Task.CompletedTask; });
        Add(rows, "shapes generation 32×32, 1 thread", count, "images", t);
        List<AlignmentResult> results = [];
        t = await Time(() => { results = samples.Select(s => AlignmentScorer.Score(s.Rgb, s.Size, s.Captions[0])).ToList(); return Task.CompletedTask; });
        Add(rows, "shapes alignment scoring 32×32, 1 thread", count, "images", t);
        var summary = AlignmentScorer.Summarize(results);
        rows.Add(("scorer agreement with ground truth (all criteria)", 100 * summary.AllCorrect, "%"));
        rows.Add(("scorer relation accuracy on ground truth", 100 * summary.RelationAccuracy, "%"));
    }
}

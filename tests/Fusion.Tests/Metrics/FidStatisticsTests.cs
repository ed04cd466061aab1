using System.Text.Json;
using Fusion.Artifacts.Store.Local;
using Fusion.Artifacts.Tables;
using Fusion.Models.Metrics;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Stages;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Metrics;

/// <summary>FID statistics as our Parquet table: lossless, checked on read, and what imported .npz statistics become.</summary>
public class FidStatisticsTests
{
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    [Fact]
    public async Task Statistics_round_trip_through_parquet_bit_for_bit_with_their_count()
    {
        using var dir = new TempDir();
        using var stats = ActivationStatistics.Of(randn([50, 9], dtype: float64, generator: new Generator(3)) * 1e-3 + 7);
        await FidStatistics.WriteAsync(dir["stats.parquet"], stats, new Dictionary<string, string> { ["features"] = "test" });
        using var back = await FidStatistics.ReadAsync(dir["stats.parquet"]);
        Assert.True(Same(stats.Mean, back.Mean) && Same(stats.Covariance, back.Covariance));
        Assert.Equal(50, back.Count);
        var (_, metadata) = await StatisticsTable.ReadAsync(dir["stats.parquet"]);
        Assert.Equal("test", metadata["features"]);
        Assert.InRange(FrechetDistance.Compute(stats, back), -1e-12, 1e-12);
    }

    [Fact]
    public async Task Tables_that_are_not_statistics_are_rejected_naming_the_file_and_row()
    {
        using var dir = new TempDir();
        var spec = new TensorSpec(TensorDType.Float64, [2]);
        var row = new byte[16];

        await using (var w = await TensorTableWriter.CreateAsync(dir["swapped.parquet"], spec, TensorKeyType.String, metadata: new Dictionary<string, string> { ["stats.count"] = "5" }))
            foreach (var key in new[] { "mu", "sigma/1", "sigma/0" }) await w.AddAsync(key, row);
        var e = await Assert.ThrowsAsync<TableFormatException>(() => StatisticsTable.ReadAsync(dir["swapped.parquet"]));
        Assert.Contains("swapped.parquet", e.Message);
        Assert.Contains("'sigma/1'; expected 'sigma/0'", e.Message);

        await using (var w = await TensorTableWriter.CreateAsync(dir["short.parquet"], spec, TensorKeyType.String, metadata: new Dictionary<string, string> { ["stats.count"] = "5" }))
            foreach (var key in new[] { "mu", "sigma/0" }) await w.AddAsync(key, row);
        Assert.Contains("has 2", (await Assert.ThrowsAsync<TableFormatException>(() => StatisticsTable.ReadAsync(dir["short.parquet"]))).Message);

        await using (var w = await TensorTableWriter.CreateAsync(dir["float32.parquet"], TensorSpec.Float32(2), TensorKeyType.String))
            foreach (var key in new[] { "mu", "sigma/0", "sigma/1" }) await w.AddAsync(key, new byte[8]);
        Assert.Contains("float32[2]", (await Assert.ThrowsAsync<TableFormatException>(() => StatisticsTable.ReadAsync(dir["float32.parquet"]))).Message);
    }

    [Fact]
    public async Task Published_npz_statistics_are_imported_into_the_parquet_form_unchanged()
    {
        using var dir = new TempDir();
        // pytorch-fid-shaped statistics (2048-d) written as the published .npz would be.
        var gen = new Generator(5);
        using var a = randn([FidFeatures.Dim, 8], dtype: float64, generator: gen);
        using var published = new ActivationStatistics(randn([FidFeatures.Dim], dtype: float64, generator: gen), a.matmul(a.T));
        published.SaveNpz(dir["fid_stats_mscoco256_val.npz"]);

        var yaml = $$$"""
            stages:
              fid-reference: {kind: coco-fid-reference, params: {npz_path: "{{{dir["fid_stats_mscoco256_val.npz"]}}}"}}
            """;
        await File.WriteAllTextAsync(dir["p.yaml"], yaml);
        var registry = new StageRegistry().AddAssembly(typeof(CocoFidReferenceStage).Assembly);
        var facts = EnvironmentFacts.Of(("device", "cpu"), ("dtype", "float32"));
        var pipeline = PipelineLoader.Load(dir["p.yaml"], registry);
        await using var store = new LocalArtifactStore(dir["store"]);
        var run = await new Executor(store, registry, new FixedEnvironmentFacts(facts), NullLoggerFactory.Instance).RunAsync(pipeline, new RunOptions());
        Assert.True(run.State == RunState.Succeeded, string.Join("; ", run.Nodes.Select(n => n.Error)));

        var manifest = (await store.GetManifestAsync(Fingerprinter.Compute(pipeline, registry, facts)["fid-reference"].Fingerprint)).Manifest!;
        using var imported = await FidStatistics.ReadAsync(await store.GetLocalPathAsync(manifest, CocoFidReferenceStage.StatsFile));
        Assert.True(Same(published.Mean, imported.Mean) && Same(published.Covariance, imported.Covariance));
        var record = JsonSerializer.Deserialize<Dictionary<string, string>>(await File.ReadAllTextAsync(await store.GetLocalPathAsync(manifest, CocoFidReferenceStage.RecordFile)))!;
        Assert.Equal("imported", record["source"]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(dir["fid_stats_mscoco256_val.npz"]))), record["sha256"]);
    }
}

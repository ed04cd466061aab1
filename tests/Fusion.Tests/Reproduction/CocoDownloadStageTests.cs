using System.Security.Cryptography;
using System.Text.Json;
using Fusion.Artifacts.Store.Local;
using Fusion.Artifacts.Tables;
using Fusion.Datasets.Coco;
using Fusion.Reproduction.Coco;
using Fusion.Tests.Datasets;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Fusion.Tests.Reproduction;

/// <summary>The download stages of the COCO pipelines against a generated mini-COCO and weight files served locally.</summary>
public sealed class CocoDownloadStageTests : IAsyncLifetime
{
    private readonly TempDir dir = new();
    private readonly LocalHttpServer server = new();
    private readonly StageRegistry registry = new StageRegistry()
        .AddAssembly(typeof(Fusion.Reproduction.Stages.TrainStage).Assembly)
        .AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);
    private readonly EnvironmentFacts facts = EnvironmentFacts.Of(("device", "cpu"), ("dtype", "float32"));
    private LocalArtifactStore store = null!;
    private MiniCoco coco = null!;

    public Task InitializeAsync()
    {
        store = new LocalArtifactStore(dir["store"]);
        coco = MiniCoco.Create(dir["coco"], id => server.Url("images/" + MiniCoco.FileName(id)).ToString());
        coco.Serve(server);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    private async Task<(RunRecord Run, IReadOnlyDictionary<string, PlannedNode> Plan, Pipeline Pipeline)> RunAsync(string yaml)
    {
        var path = dir[$"p{Guid.NewGuid():N}.yaml"];
        await File.WriteAllTextAsync(path, yaml);
        var pipeline = PipelineLoader.Load(path, registry);
        var executor = new Executor(store, registry, new FixedEnvironmentFacts(facts), NullLoggerFactory.Instance);
        return (await executor.RunAsync(pipeline, new RunOptions()), Fingerprinter.Compute(pipeline, registry, facts), pipeline);
    }

    private async Task<InputArtifact> ArtifactAsync(IReadOnlyDictionary<string, PlannedNode> plan, string node) =>
        new(node, (await store.GetManifestAsync(plan[node].Fingerprint)).Manifest ?? throw new InvalidOperationException($"{node} has no artifact"), store);

    [Fact]
    public async Task Fetch_weights_records_the_digest_of_an_unpinned_file_and_refuses_a_wrong_pin()
    {
        var bytes = new byte[70_000];
        new Random(3).NextBytes(bytes);
        server.Files["w/pt_inception.pth"] = bytes;
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var (run, plan, _) = await RunAsync($$$"""
            stages:
              unpinned: {kind: fetch-weights, params: {component: fid-inception, url: "{{{server.Url("w/pt_inception.pth")}}}"}}
              pinned: {kind: fetch-weights, params: {component: fid-inception, url: "{{{server.Url("w/pt_inception.pth")}}}", sha256: ["{{{PretrainedComponents.Inception}}}={{{sha}}}"]}}
              wrong: {kind: fetch-weights, params: {component: fid-inception, url: "{{{server.Url("w/pt_inception.pth")}}}", sha256: ["{{{PretrainedComponents.Inception}}}={{{new string('0', 64)}}}"]}}
            """);
        Assert.Equal(NodeState.Ran, run.Nodes.Single(n => n.NodeId == "unpinned").State);
        Assert.Equal(NodeState.Ran, run.Nodes.Single(n => n.NodeId == "pinned").State);
        var wrong = run.Nodes.Single(n => n.NodeId == "wrong");
        Assert.Equal(NodeState.Failed, wrong.State);
        Assert.Contains(sha, wrong.Error);

        var artifact = await ArtifactAsync(plan, "unpinned");
        Assert.Equal(bytes, await File.ReadAllBytesAsync(await artifact.GetPathAsync("files/" + PretrainedComponents.Inception)));
        using var record = JsonDocument.Parse(await File.ReadAllTextAsync(await artifact.GetPathAsync("component.json")));
        var file = record.RootElement.GetProperty("files")[0];
        Assert.Equal(sha, file.GetProperty("sha256").GetString());
        Assert.False(file.GetProperty("pinned").GetBoolean());
        Assert.Equal(sha, run.Nodes.Single(n => n.NodeId == "unpinned").Summary![$"sha256.{PretrainedComponents.Inception}"]);
        Assert.Contains("\"pinned\": true", await File.ReadAllTextAsync(await (await ArtifactAsync(plan, "pinned")).GetPathAsync("component.json")));
    }

    [Fact]
    public async Task Coco_download_fetches_the_subset_by_coco_url_and_reports_problems()
    {
        var (run, plan, _) = await RunAsync($$$"""
            stages:
              coco: {kind: coco-download, params: {train_subset: 4, val_subset: 3, annotations_url: "{{{server.Url("annotations_trainval2014.zip")}}}", parallelism: 2}}
            """);
        var node = run.Nodes.Single();
        Assert.True(node.State == NodeState.Ran, node.Error);
        var artifact = await ArtifactAsync(plan, "coco");

        // Captioned images in ascending id: 9, 25, 42, 73, 74 (30 has no caption). 25 is a corrupt JPEG, but its bytes download.
        long[] train = [9, 25, 42, 73];
        var files = await CocoImageFiles.ReadAsync(artifact, "train", default);
        Assert.Equal(train, files.Select(f => f.Id));
        foreach (var (id, path) in files) Assert.Equal(await File.ReadAllBytesAsync(coco.JpegPaths[id]), await File.ReadAllBytesAsync(path));
        Assert.Equal([9L, 25, 42], (await CocoImageFiles.ReadAsync(artifact, "val", default)).Select(f => f.Id));

        var json = CocoCaptions.Load(coco.CaptionsJson);
        var rows = await CaptionsTable.ReadAllAsync(await artifact.GetPathAsync("train/captions.parquet"));
        Assert.Equal(json.Rows().Where(r => train.Contains(r.ImageId)).ToList(), rows);

        // The evaluation list rebuilt from the captions table is the one the annotation file gives.
        var val = await CocoImageFiles.ReadCaptionsAsync(artifact, "val", default);
        Assert.Equal(EvalCaptions.Choose(json, 3, 17), EvalCaptions.Choose(val, 3, 17));

        var problems = await File.ReadAllTextAsync(await artifact.GetPathAsync("problems.txt"));
        Assert.Contains("caption 1 → image 999", problems);
        Assert.Contains("image(s) without captions: 30", problems);
        Assert.Equal("4", node.Summary!["train_images"]);
    }

    [Fact]
    public async Task Coco_download_reports_images_that_fail_to_download()
    {
        server.Files.TryRemove("images/" + MiniCoco.FileName(42), out _);
        var (run, plan, _) = await RunAsync($$$"""
            stages:
              coco: {kind: coco-download, params: {train_subset: 2, val_subset: 3, annotations_url: "{{{server.Url("annotations_trainval2014.zip")}}}"}}
            """);
        Assert.Equal(NodeState.Ran, run.Nodes.Single().State);
        var artifact = await ArtifactAsync(plan, "coco");
        Assert.Equal([9L, 25], (await CocoImageFiles.ReadAsync(artifact, "val", default)).Select(f => f.Id));
        var problems = await File.ReadAllTextAsync(await artifact.GetPathAsync("problems.txt"));
        Assert.Contains($"val: image 42 ({MiniCoco.FileName(42)}) not downloaded", problems);
        Assert.Contains("COCO 2014 val: 2 images, expected 3 (the subset)", problems);
    }
}

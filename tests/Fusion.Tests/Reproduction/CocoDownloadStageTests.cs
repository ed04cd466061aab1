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

/// <summary>The COCO download stage against a generated mini-COCO served locally (the weights fetch: Weights/WeightsLock*Tests).</summary>
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

    /// <summary>
    /// A hostile captions file on both ingest branches (per-image subset and whole zip): file names that climb out
    /// of their folder, are absolute (one names a file the test placed outside the store), nest in a folder the zip
    /// really has, or name a folder. Each is a problem; none is fetched, read, moved or committed.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Coco_download_skips_file_names_that_are_not_plain_and_touches_nothing_they_name(bool wholeZip)
    {
        var outside = dir["outside.jpg"];
        await File.WriteAllBytesAsync(outside, [1, 2, 3]);
        // Where "../../../outside.jpg" lands from the whole-zip extraction folder (scratch/<fp>/val-zip/val2014/).
        var inScratch = Path.Combine(store.Root, "scratch", "outside.jpg");
        await File.WriteAllBytesAsync(inScratch, [4, 5, 6]);
        string[] hostile = ["../../outside.jpg", "../../../outside.jpg", "/etc/passwd", outside, "sub/dir.jpg", ".."];
        var jpeg = await File.ReadAllBytesAsync(coco.JpegPaths[9]);
        var extra = hostile.Select((name, i) => (Id: i + 1L, FileName: name, CocoUrl: server.Url($"hostile/{i + 1}").ToString())).ToList();
        foreach (var e in extra) server.Files[$"hostile/{e.Id}"] = jpeg;
        coco.AddImages(extra);
        coco.Serve(server);
        coco.ServeImageZips(server, ("sub/dir.jpg", jpeg));

        // The hostile ids (1..6) come first, so a subset of 8 asks for all of them and images 9 and 25.
        var splits = wholeZip
            ? $"train_subset: 0, val_subset: 0, train_zip_url: \"{server.Url("train2014.zip")}\", val_zip_url: \"{server.Url("val2014.zip")}\""
            : "train_subset: 8, val_subset: 8";
        var (run, plan, _) = await RunAsync($"""
            stages:
              coco:
                kind: coco-download
                params: {"{"}{splits}, annotations_url: "{server.Url("annotations_trainval2014.zip")}", parallelism: 2{"}"}
            """);
        var node = run.Nodes.Single();
        Assert.True(node.State == NodeState.Ran, node.Error);
        var artifact = await ArtifactAsync(plan, "coco");
        var problems = await File.ReadAllLinesAsync(await artifact.GetPathAsync("problems.txt"));
        long[] expected = wholeZip ? [9, 25, 42, 73, 74] : [9, 25];
        foreach (var split in new[] { "train", "val" })
        {
            var listed = await RecordsTable.ReadAllAsync<ImageFileRecord>(await artifact.GetPathAsync(CocoImageFiles.List(split)));
            Assert.Equal(expected, listed.Select(r => r.ImageId).Order());
            foreach (var (id, name, _) in extra)
                Assert.Single(problems, line => line.StartsWith($"{split}: image {id} ", StringComparison.Ordinal) && line.Contains($"'{name}' is not a plain file name"));
        }
        Assert.All(artifact.Manifest.Files, f => Assert.Matches(@"^(problems\.txt|(train|val)/(captions|image_files)\.parquet|(train|val)/images/COCO_val2014_\d{12}\.jpg)$", f.Name));
        Assert.Equal(new byte[] { 1, 2, 3 }, await File.ReadAllBytesAsync(outside));
        Assert.Equal(new byte[] { 4, 5, 6 }, await File.ReadAllBytesAsync(inScratch));
        Assert.All(extra, e => Assert.Equal(0, server.Count($"hostile/{e.Id}")));
    }
}

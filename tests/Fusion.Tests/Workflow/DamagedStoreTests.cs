using System.Collections.Concurrent;
using System.Text;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Artifacts.Blob;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Regression;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;

namespace Fusion.Tests.Workflow;

/// <summary>
/// The engine on a store whose documents or manifests were damaged behind its back. Documents are a cache: an
/// unreadable one is reported, naming it, and treated as absent (the artifacts' manifests decide), and nothing is
/// deleted because of it. Run against each store by subclassing.
/// </summary>
public abstract class DamagedStoreTests : IAsyncLifetime
{
    private const string Chain = "stages:\n  a: {kind: constant, params: {text: abc}}\n  b: {kind: transform, inputs: {source: a}}\n";
    private static readonly EnvironmentFacts Facts = EnvironmentFacts.Of(("torchsharp", "0"), ("libtorch", "0"), ("device", "cpu"), ("dtype", "float32"));

    protected readonly TempDir Dir = new();
    private readonly ConcurrentQueue<string> log = new();
    private IArtifactStore? store;

    protected IArtifactStore Store => store!;

    /// <summary>A fresh, empty store.</summary>
    protected abstract Task<IArtifactStore> CreateStoreAsync();

    /// <summary>Cuts a committed manifest short behind the store's back (a crash mid-write on a store without atomic writes).</summary>
    protected abstract Task TruncateManifestAsync(string fingerprint);

    public async Task InitializeAsync() => store = await CreateStoreAsync();

    public async Task DisposeAsync()
    {
        if (store is not null) await store.DisposeAsync();
        Dir.Dispose();
    }

    private Pipeline Load(params string[] overrides) =>
        PipelineLoader.Parse(Chain, "chain.yaml", EngineHarness.Registry1(), null, overrides);

    private Executor Executor() =>
        new(Store, EngineHarness.Registry1(), new FixedEnvironmentFacts(Facts), LoggerFactory.Create(b => b.AddProvider(new ListLogger(log))));

    private Task<RunRecord> RunAsync(Pipeline p) => Executor().RunAsync(p, new RunOptions());

    private string Fingerprint(Pipeline p, string node) => Executor().Fingerprint(p)[node].Fingerprint;

    private async Task<List<string>> ArtifactsAsync()
    {
        var list = new List<string>();
        await foreach (var fp in Store.ListArtifactsAsync()) list.Add(fp);
        return list.Order().ToList();
    }

    public static TheoryData<string> Garbage => new() { "\0garbage", "", "{\"nodeId\": \"b\", \"finger", "{}", "[1, 2]", "null", "\xff\xfe not utf-8" };

    private static byte[] Bytes(string text) => text.StartsWith('\xff') ? [0xff, 0xfe, .. Encoding.ASCII.GetBytes(text[2..])] : Encoding.UTF8.GetBytes(text);

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task An_unreadable_node_index_is_reported_once_and_rebuilt_from_the_manifests(string garbage)
    {
        var p = Load();
        await RunAsync(p);
        var artifacts = await ArtifactsAsync();
        var path = EngineDocuments.IndexPath(p.Name, "b");
        await Store.PutDocumentAsync(path, Bytes(garbage));
        log.Clear();

        var run = await RunAsync(p);
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.All(run.Nodes, n => Assert.Equal(NodeState.Cached, n.State));
        var where = Store.DescribeDocument(path);
        Assert.Single(log, line => line.Contains(where) && line.Contains("unreadable"));
        var index = await new EngineDocuments(Store).ReadIndexAsync(p.Name, "b");
        Assert.Null(index.Error);
        Assert.Equal(Fingerprint(p, "b"), index.Value!.Fingerprint);   // rebuilt
        Assert.Equal(artifacts, await ArtifactsAsync());
    }

    [Fact]
    public async Task An_unreadable_index_of_a_changed_node_says_so_in_the_plan_and_the_run_rewrites_it()
    {
        await RunAsync(Load());
        var changed = Load("b.factor=3");
        var path = EngineDocuments.IndexPath(changed.Name, "b");
        await Store.PutDocumentAsync(path, Bytes("\0garbage"));

        var plan = (await Executor().PlanAsync(changed, new RunOptions())).Single(e => e.Node.Id == "b");
        Assert.Equal(PlanStatus.WillRun, plan.Status);
        Assert.Contains(Store.DescribeDocument(path) + " is unreadable", Assert.Single(plan.Reasons));

        var run = await RunAsync(changed);
        Assert.Equal(NodeState.Ran, run.Nodes.Single(n => n.NodeId == "b").State);
        Assert.Equal(Fingerprint(changed, "b"), (await new EngineDocuments(Store).ReadIndexAsync(changed.Name, "b")).Value!.Fingerprint);
    }

    [Fact]
    public async Task An_unreadable_run_document_is_named_kept_and_does_not_hide_the_other_runs()
    {
        var first = await RunAsync(Load());
        var second = await RunAsync(Load());
        var documents = new EngineDocuments(Store);
        var path = EngineDocuments.RunPath(first.RunId);
        await Store.PutDocumentAsync(path, Bytes("\0garbage"));

        var read = await documents.ReadRunAsync(first.RunId);
        Assert.Equal(Store.DescribeDocument(path), read.Error!.Where);
        Assert.Contains(Store.DescribeDocument(path), (await Assert.ThrowsAsync<DocumentCorruptException>(() => documents.GetRunAsync(first.RunId))).Message);
        Assert.Equal([second.RunId, first.RunId], await documents.ListRunsAsync());
        Assert.Equal(second.RunId, (await documents.FindRunAsync(null))!.RunId);

        Assert.Equal(RunState.Succeeded, (await RunAsync(Load())).State);
        Assert.Equal(Bytes("\0garbage"), await Store.GetDocumentAsync(path));   // left for a person to look at
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Gc_deletes_nothing_when_the_pins_or_a_pinned_run_cannot_be_read(bool damagePins)
    {
        var old = await RunAsync(Load("a.text=old"));
        await RunAsync(Load());
        var documents = new EngineDocuments(Store);
        await documents.SetPinsAsync([old.RunId]);
        await Store.PutDocumentAsync(damagePins ? "pins.json" : EngineDocuments.RunPath(old.RunId), Bytes("{\"pins\": ["));
        var artifacts = await ArtifactsAsync();

        // Whether gc stops or reports and goes on, what the pin protects must survive it.
        try { await GarbageCollector.CollectAsync(Store, Executor().Fingerprint(Load()).Values.Select(n => n.Fingerprint).ToHashSet(), TimeSpan.Zero, dryRun: false); }
        catch (DocumentCorruptException) { }
        Assert.Equal(artifacts, await ArtifactsAsync());
    }

    [Fact]
    public async Task A_damaged_worker_document_is_named_instead_of_failing_as_bare_json()
    {
        var documents = new ArtifactStoreDocuments(Store);
        await documents.PutAsync("worker/runs/nightly/status.json", Bytes("{\"runId\": "));
        var e = await Assert.ThrowsAsync<DocumentCorruptException>(() => new DocumentRunStatusWriter(documents).GetAsync("nightly", default));
        Assert.Equal(Store.DescribeDocument("worker/runs/nightly/status.json"), e.Where);
    }

    [Fact]
    public async Task A_truncated_manifest_makes_the_artifact_absent_and_the_next_run_recomputes_it()
    {
        var p = Load();
        await RunAsync(p);
        var fp = Fingerprint(p, "a");
        await TruncateManifestAsync(fp);

        var lookup = await Store.GetManifestAsync(fp);
        Assert.Null(lookup.Manifest);
        Assert.NotNull(lookup.Problem);
        Assert.Equal(PlanStatus.WillRun, (await Executor().PlanAsync(p, new RunOptions())).Single(e => e.Node.Id == "a").Status);

        var run = await RunAsync(p);
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(NodeState.Ran, run.Nodes.Single(n => n.NodeId == "a").State);
        Assert.True((await Store.GetManifestAsync(fp, verifyHashes: true)).Found);
    }
}

public sealed class LocalDamagedStoreTests : DamagedStoreTests
{
    protected override Task<IArtifactStore> CreateStoreAsync() => Task.FromResult<IArtifactStore>(new LocalArtifactStore(Dir["store"]));

    protected override async Task TruncateManifestAsync(string fingerprint)
    {
        var path = Path.Combine(((LocalArtifactStore)Store).ArtifactDirectory(fingerprint), LocalArtifactStore.ManifestFileName);
        var bytes = await File.ReadAllBytesAsync(path);
        File.SetAttributes(path, FileAttributes.Normal);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
    }
}

[Collection(AzuriteCollection.Name)]
public sealed class BlobDamagedStoreTests(AzuriteFixture azurite) : DamagedStoreTests
{
    private readonly string container = AzuriteFixture.NewContainer();

    protected override async Task<IArtifactStore> CreateStoreAsync() =>
        await BlobArtifactStore.OpenAsync($"azure://{AzuriteProcess.Account}/{container}/p",
            BlobCredential.FromConnectionString(azurite.ConnectionString),
            new BlobStoreOptions { WorkDirectory = Dir["work"], CacheDirectory = Dir["cache"] });

    protected override async Task TruncateManifestAsync(string fingerprint)
    {
        var blob = BlobTestUtil.Container(azurite, container).GetBlobClient("p/" + BlobLayout.Manifest(fingerprint));
        var bytes = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        await blob.UploadAsync(new BinaryData(bytes[..(bytes.Length / 2)]), overwrite: true);
    }
}

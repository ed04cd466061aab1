using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Tests.Artifacts.Blob;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Workflow;

/// <summary>
/// No node computes from input bytes its input's manifest does not vouch for: a damaged input is found when the node
/// reads it, the node that wrote it is recomputed first, and `run --verify` also recomputes every node built from a
/// broken one.
/// </summary>
public sealed class InputVerificationTests
{
    private const string Chain = "stages:\n  a: {kind: constant, params: {text: abc}}\n  b: {kind: transform, inputs: {source: a}}\n  c: {kind: transform, inputs: {source: b}}\n";

    /// <summary>Flips one bit of the last byte: same size, so only a hash tells.</summary>
    internal static void FlipLastByte(string path)
    {
        File.SetAttributes(path, FileAttributes.Normal);
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 1;
        File.WriteAllBytes(path, bytes);
    }

    private static NodeRecord Line(RunRecord run, string node) => run.Nodes.Single(n => n.NodeId == node);

    [Fact]
    public async Task A_forced_node_whose_input_was_damaged_recomputes_it_first_and_reads_good_bytes()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        await h.RunAsync(p);
        var file = Path.Combine(h.Store.ArtifactDirectory(h.Fingerprints(p)["a"].Fingerprint), "files", "out.txt");
        FlipLastByte(file);

        var run = await h.RunAsync(p, new RunOptions { Force = ["b"] });
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(NodeState.Ran, Line(run, "a").State);
        Assert.Equal(["its committed file 'out.txt' is damaged (found reading it for b)"], Line(run, "a").Reasons);
        Assert.Equal(NodeState.Ran, Line(run, "b").State);
        Assert.Contains("again, after a was recomputed for its damaged 'out.txt'", Line(run, "b").Reasons!);
        Assert.Equal(NodeState.Cached, Line(run, "c").State);
        Assert.Equal(3, run.Nodes.Count);
        Assert.Equal("abc", File.ReadAllText(file));
        Assert.StartsWith("abc\nb ", await h.OutputAsync(p, "b"));
    }

    [Fact]
    public async Task An_input_found_damaged_by_two_nodes_is_recomputed_once()
    {
        using var h = new EngineHarness();
        var p = h.Load("stages:\n  a: {kind: constant, params: {text: abc}}\n  b: {kind: transform, inputs: {source: a}}\n  d: {kind: transform, params: {factor: 2}, inputs: {source: a}}\n");
        await h.RunAsync(p);
        var fp = h.Fingerprints(p)["a"].Fingerprint;
        FlipLastByte(Path.Combine(h.Store.ArtifactDirectory(fp), "files", "out.txt"));
        var committed = (await h.Store.GetManifestAsync(fp)).Manifest!.CommittedUtc;

        var run = await h.RunAsync(p, new RunOptions { Force = ["b", "d"], Jobs = 2 });
        Assert.True(run.State == RunState.Succeeded, string.Join("\n", run.Nodes.Select(n => $"{n.NodeId} {n.State} {n.Error} {string.Join("; ", n.Reasons ?? [])}")));
        foreach (var node in new[] { "b", "d" }) Assert.StartsWith("abc\n", await h.OutputAsync(p, node));
        Assert.NotEqual(committed, (await h.Store.GetManifestAsync(fp)).Manifest!.CommittedUtc);
        Assert.Single(run.Nodes, n => n.NodeId == "a" && n.State == NodeState.Ran);
    }

    [Fact]
    public async Task Damaged_inputs_two_levels_up_are_recomputed_upstream_first()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        await h.RunAsync(p);
        foreach (var node in new[] { "a", "b" }) FlipLastByte(Path.Combine(h.Store.ArtifactDirectory(h.Fingerprints(p)[node].Fingerprint), "files", "out.txt"));

        var run = await h.RunAsync(p, new RunOptions { Force = ["c"] });
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.All(run.Nodes, n => Assert.Equal(NodeState.Ran, n.State));
        Assert.Equal(["its committed file 'out.txt' is damaged (found reading it for b)"], Line(run, "a").Reasons);
        Assert.Equal("its committed file 'out.txt' is damaged (found reading it for c)", Line(run, "b").Reasons![0]);
        Assert.StartsWith("abc\nb ", await h.OutputAsync(p, "b"));
        Assert.StartsWith("abc\nb ", await h.OutputAsync(p, "c"));
    }

    [Fact]
    public async Task Run_verify_recomputes_every_node_downstream_of_a_broken_one()
    {
        using var h = new EngineHarness();
        var p = h.Load(Chain);
        await h.RunAsync(p);
        FlipLastByte(Path.Combine(h.Store.ArtifactDirectory(h.Fingerprints(p)["a"].Fingerprint), "files", "out.txt"));

        var plain = await h.RunAsync(p);
        Assert.All(plain.Nodes, n => Assert.Equal(NodeState.Cached, n.State));   // sizes match; nothing read it
        var verified = await h.RunAsync(p, new RunOptions { Verify = true });
        Assert.Equal(RunState.Succeeded, verified.State);
        Assert.All(verified.Nodes, n => Assert.Equal(NodeState.Ran, n.State));
        Assert.Contains("upstream a was recomputed for a broken output (--verify)", Line(verified, "b").Reasons![0]);
        Assert.Contains("upstream b was recomputed for a broken output (--verify)", Line(verified, "c").Reasons![0]);
        var again = await h.RunAsync(p, new RunOptions { Verify = true });
        Assert.All(again.Nodes, n => Assert.Equal(NodeState.Cached, n.State));
    }
}

/// <summary>The same on the blob store, whose reads go through a local cache: a damaged cache entry is fetched again, a
/// damaged blob has its node recomputed.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobInputVerificationTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Pair = "stages:\n  a: {kind: constant, params: {text: abc}}\n  b: {kind: transform, inputs: {source: a}}\n";
    private static readonly EnvironmentFacts Facts = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"));
    private readonly string _container = AzuriteFixture.NewContainer();
    private readonly TempDir _temp = new();
    private readonly List<BlobArtifactStore> _stores = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _stores) await s.DisposeAsync();
        _temp.Dispose();
    }

    /// <summary>A store on the test's container with its own work folder and cache: another machine.</summary>
    private async Task<BlobArtifactStore> MachineAsync(string name)
    {
        var store = await BlobArtifactStore.OpenAsync($"azure://{AzuriteProcess.Account}/{_container}", BlobCredential.FromConnectionString(azurite.ConnectionString),
            new BlobStoreOptions { WorkDirectory = _temp[$"work-{name}"], CacheDirectory = _temp[$"cache-{name}"] });
        _stores.Add(store);
        return store;
    }

    private static Executor Executor(IArtifactStore store) =>
        new(store, EngineHarness.Registry1(), new FixedEnvironmentFacts(Facts), NullLoggerFactory.Instance);

    private static Pipeline Load() => PipelineLoader.Parse(Pair, "pair.yaml", EngineHarness.Registry1());

    private static async Task<string> OutputAsync(IArtifactStore store, Pipeline p, string node)
    {
        var fp = Executor(store).Fingerprint(p)[node].Fingerprint;
        return await File.ReadAllTextAsync(await store.GetLocalPathAsync((await store.GetManifestAsync(fp)).Manifest!, "out.txt"));
    }

    [Fact]
    public async Task A_damaged_cache_entry_is_fetched_again_and_its_node_is_not_recomputed()
    {
        var store = await MachineAsync("one");
        var p = Load();
        await Executor(store).RunAsync(p, new RunOptions());
        var manifest = (await store.GetManifestAsync(Executor(store).Fingerprint(p)["a"].Fingerprint)).Manifest!;
        var entry = store.Cache.EntryPath(manifest.File("out.txt"));
        InputVerificationTests.FlipLastByte(entry);   // the committing machine adopted its staged file as the entry

        var run = await Executor(store).RunAsync(p, new RunOptions { Force = ["b"] });
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(NodeState.Cached, run.Nodes.Single(n => n.NodeId == "a").State);
        Assert.StartsWith("abc\nb ", await OutputAsync(store, p, "b"));
        Assert.Equal("abc", File.ReadAllText(entry));
    }

    [Fact]
    public async Task A_damaged_blob_read_on_another_machine_has_its_node_recomputed_first()
    {
        var p = Load();
        var writer = await MachineAsync("writer");
        await Executor(writer).RunAsync(p, new RunOptions());
        var manifest = (await writer.GetManifestAsync(Executor(writer).Fingerprint(p)["a"].Fingerprint)).Manifest!;
        var blob = BlobTestUtil.Container(azurite, _container).GetBlobClient(BlobLayout.FileOf(manifest, manifest.File("out.txt")));
        await blob.UploadAsync(new BinaryData("abd"u8.ToArray()), overwrite: true);

        var reader = await MachineAsync("reader");
        var run = await Executor(reader).RunAsync(p, new RunOptions { Force = ["b"] });
        Assert.Equal(RunState.Succeeded, run.State);
        Assert.Equal(NodeState.Ran, run.Nodes.Single(n => n.NodeId == "a").State);
        Assert.StartsWith("abc\nb ", await OutputAsync(reader, p, "b"));
    }
}

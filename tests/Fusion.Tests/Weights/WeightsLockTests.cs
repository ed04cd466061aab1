using System.Text.Json;
using Fusion.Artifacts.Store.Local;
using Fusion.Cli;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Stages;
using Fusion.Reproduction.Weights;
using Fusion.Tests.Datasets;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Weights;

/// <summary>
/// The weights lock in process: what it pins enters fingerprints, malformed entries stop the load, pinning reads the
/// Hub API of a local Hub (or hashes a plain URL's bytes), and local files are checked against it.
/// </summary>
public sealed class WeightsLockTests : IAsyncLifetime
{
    private const string Clip = "clip-vit-large-patch14";
    private readonly TempDir dir = new();
    private readonly LocalHttpServer server = new();
    private readonly StageRegistry registry = new StageRegistry().AddAssembly(typeof(TrainStage).Assembly).AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);
    private readonly EnvironmentFacts facts = EnvironmentFacts.Of(("device", "cpu"), ("dtype", "float32"));
    private LocalHub hub = null!;
    private HubSettings settings = null!;

    public Task InitializeAsync()
    {
        hub = new LocalHub(server);
        settings = new HubSettings(hub.Endpoint, null, dir["hf/hub"]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    private string LockPath => dir[WeightsLock.FileName];

    private IReadOnlyDictionary<string, PlannedNode> Plan(string yaml)
    {
        File.WriteAllText(dir["p.yaml"], yaml);
        return Fingerprinter.Compute(PipelineLoader.Load(dir["p.yaml"], registry), registry, facts);
    }

    private async Task<IReadOnlyList<LockedFile>> PinAsync(PretrainedComponent component)
    {
        using var http = settings.CreateClient();
        return await new WeightsPinner(settings, http, NullLogger.Instance).PinAsync(LockPath, [component], default);
    }

    private string PublishClip(long seed) =>
        hub.Commit(PretrainedComponents.ClipRepo, TinyPretrained.Clip(seed), new HashSet<string> { PretrainedComponents.ClipWeights });

    private const string Dag = """
        stages:
          clip-weights: {kind: fetch-weights, params: {component: clip-vit-large-patch14}}
          vae-weights: {kind: fetch-weights, params: {component: autoencoder-kl}}
          coco: {kind: coco-download, params: {train_subset: 2, val_subset: 2}}
          text: {kind: coco-encode-captions, inputs: {data: coco, clip: clip-weights}}
          latents: {kind: coco-encode-images, inputs: {data: coco, vae: vae-weights}}
        """;

    [Fact]
    public async Task Pinning_fills_revision_size_and_digest_from_the_hub_and_they_enter_exactly_the_dependent_fingerprints()
    {
        var files = TinyPretrained.Clip(1);
        var first = hub.Commit(PretrainedComponents.ClipRepo, files, new HashSet<string> { PretrainedComponents.ClipWeights });
        var unpinned = Plan(Dag);

        var pinned = await PinAsync(PretrainedComponent.ClipVitLargePatch14);
        Assert.Equal(3, pinned.Count);
        var entries = WeightsLock.Read(LockPath).EntriesFor(PretrainedComponent.ClipVitLargePatch14);
        foreach (var e in entries)
        {
            Assert.Equal(first, e.Revision);
            Assert.Equal(LocalHub.Sha256(files[e.File]), e.Sha256);   // LFS from lfs.oid; vocab and merges hashed from their bytes
            Assert.Equal(files[e.File].Length, e.Size);
            Assert.Equal($"https://huggingface.co/openai/clip-vit-large-patch14/resolve/{first}/{e.File}", e.Url);
        }
        Assert.Equal(1, server.Count($"api/models/{PretrainedComponents.ClipRepo}/revision/main"));
        Assert.Equal(0, server.Count($"{PretrainedComponents.ClipRepo}/resolve/{first}/{PretrainedComponents.ClipWeights}")); // the Hub's digest, no download
        Assert.Equal(1, server.Count($"{PretrainedComponents.ClipRepo}/resolve/{first}/{PretrainedComponents.ClipVocab}"));

        var atFirst = Plan(Dag);
        Assert.NotEqual(unpinned["clip-weights"].Fingerprint, atFirst["clip-weights"].Fingerprint);
        Assert.Contains("param lock", Fingerprinter.Explain(unpinned["clip-weights"].Parts, atFirst["clip-weights"]).Single());
        foreach (var same in new[] { "vae-weights", "coco", "latents" }) Assert.Equal(unpinned[same].Fingerprint, atFirst[same].Fingerprint);

        // Pinning a new commit: the fetch node and what reads it change, nothing else.
        var second = PublishClip(2);
        var reset = WeightsLock.Read(LockPath);   // what a user does to take what main names now: null the fields
        reset.With(reset.Files.Select(f => f with { Revision = null, Url = null, Size = null, Sha256 = null })).Write(LockPath);
        await PinAsync(PretrainedComponent.ClipVitLargePatch14);
        Assert.All(WeightsLock.Read(LockPath).Files, f => Assert.Equal(second, f.Revision));
        var atSecond = Plan(Dag);
        foreach (var changed in new[] { "clip-weights", "text" }) Assert.NotEqual(atFirst[changed].Fingerprint, atSecond[changed].Fingerprint);
        foreach (var same in new[] { "vae-weights", "coco", "latents" }) Assert.Equal(atFirst[same].Fingerprint, atSecond[same].Fingerprint);

        // Taking files unchecked is a choice the fingerprint sees.
        var unchecked_ = Plan(Dag.Replace("component: clip-vit-large-patch14}", "component: clip-vit-large-patch14, allow_unpinned: true}"));
        Assert.NotEqual(atSecond["clip-weights"].Fingerprint, unchecked_["clip-weights"].Fingerprint);
    }

    public static TheoryData<string, string> BadEntries => new()
    {
        { """{"component": "clip-vit-large-patch14", "file": "model.safetensors", "repo": "openai/clip-vit-large-patch14", "revision": "main", "url": null, "size": null, "sha256": null}""",
          "clip-vit-large-patch14/model.safetensors: revision 'main' is not a commit" },
        { """{"component": "clip-vit-large-patch14", "file": "vocab.json", "repo": "openai/clip-vit-large-patch14", "revision": null, "url": null, "size": 1, "sha256": "ABC"}""",
          "clip-vit-large-patch14/vocab.json: sha256 'ABC' is not 64 lower-case hex digits" },
        { """{"component": "clip-vit-large-patch14", "file": "merges.txt", "repo": "someone/else", "revision": null, "url": null, "size": null, "sha256": null}""",
          "clip-vit-large-patch14/merges.txt names repo someone/else, the code fetches openai/clip-vit-large-patch14" },
        { $$"""{"component": "fid-inception", "file": "{{PretrainedComponents.Inception}}", "repo": null, "revision": null, "url": "{{PretrainedComponents.InceptionUrl}}", "size": 5, "sha256": "{{new string('e', 64)}}", "sha256_prefix": "6726825d"}""",
          "does not start with its sha256_prefix 6726825d" },
    };

    [Theory]
    [MemberData(nameof(BadEntries))]
    public void A_lock_entry_that_pins_a_branch_or_a_malformed_digest_stops_the_load_naming_it(string entry, string message)
    {
        File.WriteAllText(LockPath, $$"""{"version": 1, "files": [{{entry}}]}""");
        var e = Assert.Throws<PipelineException>(() => Plan(Dag.Replace("autoencoder-kl", "fid-inception")));
        Assert.Contains(message, e.Message);
        Assert.Contains("stages.", e.Message);   // and where the node is declared
    }

    [Fact]
    public void The_lock_param_is_not_set_by_hand_and_one_component_is_pinned_at_one_commit()
    {
        var e = Assert.Throws<PipelineException>(() => Plan(Dag.Replace("{component: autoencoder-kl}", "{component: autoencoder-kl, lock: '[]'}")));
        Assert.Contains("param 'lock' comes from weights.lock.json", e.Message);

        string Entry(string file, char rev) =>
            $$"""{"component": "{{Clip}}", "file": "{{file}}", "repo": "{{PretrainedComponents.ClipRepo}}", "revision": "{{new string(rev, 40)}}", "url": "https://huggingface.co/{{PretrainedComponents.ClipRepo}}/resolve/{{new string(rev, 40)}}/{{file}}", "size": null, "sha256": null}""";
        File.WriteAllText(LockPath, $$"""{"version": 1, "files": [{{Entry("vocab.json", 'a')}}, {{Entry("merges.txt", 'b')}}]}""");
        Assert.Contains("pinned at different revisions", Assert.Throws<PipelineException>(() => Plan(Dag)).Message);
    }

    [Fact]
    public async Task A_file_at_a_plain_url_is_pinned_by_its_bytes_and_must_carry_the_stated_prefix()
    {
        var bytes = TinyPretrained.Inception(3);
        server.Files["w/inception.pth"] = bytes;
        var sha = LocalHub.Sha256(bytes);
        var entry = new LockedFile { Component = "fid-inception", File = "inception.pth", Url = server.Url("w/inception.pth").ToString(), Sha256Prefix = sha[..8] };
        using var http = settings.CreateClient();
        var pinner = new WeightsPinner(settings, http, NullLogger.Instance);
        var pinned = Assert.Single(await pinner.PinEntriesAsync([entry], default));
        Assert.Equal(entry with { Sha256 = sha, Size = bytes.Length }, pinned);

        var other = sha[..7] + (sha[7] == '0' ? '1' : '0');
        var e = await Assert.ThrowsAsync<WeightsMismatchException>(() => pinner.PinEntriesAsync([entry with { Sha256Prefix = other }], default));
        Assert.Contains($"SHA-256 {sha}, expected {other}…", e.Message);
        Assert.Contains("fid-inception/inception.pth", e.Message);
        Assert.Equal(ExitCodes.Store, FailureReport.Classify(e)!.ExitCode);
    }

    [Fact]
    public async Task The_token_goes_to_the_endpoint_only_and_not_along_a_redirect()
    {
        await using var elsewhere = new LocalHttpServer();
        elsewhere.Files["cdn/file"] = [1, 2, 3];
        server.Files["a/file"] = [1, 2, 3];
        server.Faults = (path, _) => path == "a/moved" ? new Fault.Redirect(elsewhere.Url("cdn/file")) : null;
        var withToken = new HubSettings(hub.Endpoint, "hf_secret_1234", dir["hf"]);
        Assert.DoesNotContain("hf_secret_1234", withToken.ToString());
        using var http = withToken.CreateClient();
        Assert.Equal([1, 2, 3], await http.GetByteArrayAsync(server.Url("a/file")));
        Assert.Equal([1, 2, 3], await http.GetByteArrayAsync(server.Url("a/moved")));
        Assert.Equal([1, 2, 3], await http.GetByteArrayAsync(elsewhere.Url("cdn/file")));
        Assert.All(server.Requests, r => Assert.Equal("Bearer hf_secret_1234", r.Authorization));
        Assert.Equal(2, elsewhere.Requests.Count);
        Assert.All(elsewhere.Requests, r => Assert.Null(r.Authorization));
    }

    [Fact]
    public void Hub_settings_follow_the_usual_environment_variables()
    {
        Directory.CreateDirectory(dir["home"]);
        File.WriteAllText(dir["home/token"], "hf_from_file\n");
        var vars = new Dictionary<string, string> { ["HF_HOME"] = dir["home"], ["HF_ENDPOINT"] = "https://mirror.example/hf" };
        var fromFile = HubSettings.FromEnvironment(vars.GetValueOrDefault);
        Assert.True(fromFile.HasToken);
        Assert.Equal("https://mirror.example/hf/", fromFile.Endpoint.ToString());
        Assert.Equal("https://mirror.example/hf/o/r/resolve/" + new string('a', 40) + "/f.bin", fromFile.FileUrl("o/r", new string('a', 40), "f.bin").ToString());
        Assert.Equal(Path.Combine(dir["home"], "hub"), fromFile.CacheFolder);

        var none = HubSettings.FromEnvironment(new Dictionary<string, string> { ["HF_HOME"] = dir["empty"], ["HF_HUB_CACHE"] = dir["cache"] }.GetValueOrDefault);
        Assert.False(none.HasToken);
        Assert.Equal(HubSettings.DefaultEndpoint + "/", none.Endpoint.ToString());
        Assert.Equal(dir["cache"], none.CacheFolder);
        Assert.Throws<FormatException>(() => HubSettings.FromEnvironment(new Dictionary<string, string> { ["HF_ENDPOINT"] = "huggingface.co" }.GetValueOrDefault));
    }

    private async Task<RunRecord> RunAsync(string yaml)
    {
        File.WriteAllText(dir["run.yaml"], yaml);
        var pipeline = PipelineLoader.Load(dir["run.yaml"], registry);
        var executor = new Executor(new LocalArtifactStore(dir["store"]), registry, new FixedEnvironmentFacts(facts), NullLoggerFactory.Instance);
        return await executor.RunAsync(pipeline, new RunOptions());
    }

    [Fact]
    public async Task Local_files_are_checked_against_the_lock_and_a_different_one_needs_allow_unpinned()
    {
        var files = TinyPretrained.Clip(4);
        hub.Commit(PretrainedComponents.ClipRepo, files, new HashSet<string> { PretrainedComponents.ClipWeights });
        await PinAsync(PretrainedComponent.ClipVitLargePatch14);
        foreach (var (name, bytes) in files) { Directory.CreateDirectory(dir["same"]); File.WriteAllBytes(Path.Combine(dir["same"], name), bytes); }
        Directory.CreateDirectory(dir["other"]);
        foreach (var (name, bytes) in TinyPretrained.Clip(5)) File.WriteAllBytes(Path.Combine(dir["other"], name), bytes);
        string Yaml(string node, string folder, bool allow = false) =>
            "stages: {" + node + ": {kind: fetch-weights, params: {component: clip-vit-large-patch14, local_path: \"" + dir[folder] + "\", allow_unpinned: " + (allow ? "true" : "false") + "}}}";

        var same = (await RunAsync(Yaml("same", "same"))).Nodes.Single();
        Assert.True(same.State == NodeState.Ran, same.Error);

        var refused = await RunAsync(Yaml("other", "other"));
        var node = refused.Nodes.Single();
        Assert.Equal(NodeState.Failed, node.State);
        var sha = WeightsLock.Read(LockPath).EntriesFor(PretrainedComponent.ClipVitLargePatch14)[0].Sha256;
        Assert.Contains($"{Clip}/model.safetensors from {Path.Combine(dir["other"], PretrainedComponents.ClipWeights)} does not match weights.lock.json", node.Error);
        Assert.Contains($"SHA-256 {LocalHub.Sha256(TinyPretrained.Clip(5)[PretrainedComponents.ClipWeights])}, expected {sha}", node.Error);
        var failure = FailureReport.Classify(refused.Failures["other"])!;
        Assert.Equal(ExitCodes.Store, failure.ExitCode);
        Assert.Contains("allow_unpinned: true", failure.Hint);

        var taken = (await RunAsync(Yaml("other", "other", allow: true))).Nodes.Single();
        Assert.True(taken.State == NodeState.Ran, taken.Error);
        Assert.NotEqual(node.Fingerprint, taken.Fingerprint);
        var store = new LocalArtifactStore(dir["store"]);
        var artifact = new InputArtifact("other", (await store.GetManifestAsync(taken.Fingerprint)).Manifest!, store);
        using var record = JsonDocument.Parse(await File.ReadAllTextAsync(await artifact.GetPathAsync(FetchWeightsStage.RecordFile)));
        // Only the weights differ (the stand-in vocabulary is the same): they are recorded as taken unchecked, with no revision.
        var weights = record.RootElement.GetProperty("files")[0];
        Assert.Equal(PretrainedComponents.ClipWeights, weights.GetProperty("name").GetString());
        Assert.False(weights.GetProperty("pinned").GetBoolean());
        Assert.Equal(JsonValueKind.Null, weights.GetProperty("revision").ValueKind);
        Assert.True(record.RootElement.GetProperty("files")[1].GetProperty("pinned").GetBoolean());
    }

    [Fact]
    public async Task A_node_whose_file_is_not_pinned_yet_is_refused_without_a_download()
    {
        PublishClip(6);
        var node = (await RunAsync("stages: {w: {kind: fetch-weights, params: {component: clip-vit-large-patch14}}}")).Nodes.Single();
        Assert.Equal(NodeState.Failed, node.State);
        Assert.Contains($"{Clip}/model.safetensors is not pinned in weights.lock.json (revision, size, sha256 unknown)", node.Error);
        Assert.Empty(server.Requests);

        // Unchecked files may be taken, but never from a branch: without a pinned commit there is nothing to fetch.
        var branch = (await RunAsync("stages: {w: {kind: fetch-weights, params: {component: clip-vit-large-patch14, allow_unpinned: true}}}")).Nodes.Single();
        Assert.Contains("files are never fetched at a branch", branch.Error);
        Assert.Empty(server.Requests);
    }
}

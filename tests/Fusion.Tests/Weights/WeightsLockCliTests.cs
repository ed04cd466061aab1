using System.Net;
using System.Net.Sockets;
using System.Text;
using Fusion.Artifacts.Store.Local;
using Fusion.Reproduction.Coco;
using Fusion.Reproduction.Stages;
using Fusion.Reproduction.Weights;
using Fusion.Tests.Datasets;
using Fusion.Tests.Support;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Weights;

/// <summary>
/// `fusion run` as a child process against a local Hub, with HF_ENDPOINT, HF_TOKEN and HF_HOME set for it: the first
/// run pins the lock, later runs fetch the pinned commit whatever main names, a file that differs exits 3, and the
/// token reaches the Hub but no output, lock or artifact.
/// </summary>
public sealed class WeightsLockCliTests : IAsyncLifetime
{
    private const string Token = "hf_cliSecretToken0042";
    private const string Pipeline = """
        stages:
          clip-weights: {kind: fetch-weights, params: {component: clip-vit-large-patch14}}
          vae-weights: {kind: fetch-weights, params: {component: autoencoder-kl}}
        """;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private readonly TempDir dir = new();
    private readonly LocalHttpServer server = new();
    private readonly StageRegistry registry = new StageRegistry().AddAssembly(typeof(TrainStage).Assembly);
    private LocalHub hub = null!;

    public Task InitializeAsync()
    {
        hub = new LocalHub(server);
        File.WriteAllText(dir["p.yaml"], Pipeline);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        dir.Dispose();
    }

    private string LockPath => dir[WeightsLock.FileName];

    private Task<(int Code, string Output)> Fusion(string store, string? endpoint = null) =>
        FusionCli.RunAsync(["run", dir["p.yaml"], "--store", dir[store], "--device", "cpu"], Timeout, dir.Path,
            new Dictionary<string, string> { ["HF_ENDPOINT"] = endpoint ?? hub.Endpoint.ToString(), ["HF_TOKEN"] = Token, ["HF_HOME"] = dir["hf"] });

    private async Task<byte[]> FetchedAsync(string store, string node, string file)
    {
        var plan = Fingerprinter.Compute(PipelineLoader.Load(dir["p.yaml"], registry), registry, EnvironmentFacts.Of(("device", "cpu")));
        var local = new LocalArtifactStore(dir[store]);
        var artifact = new InputArtifact(node, (await local.GetManifestAsync(plan[node].Fingerprint)).Manifest!, local);
        return await File.ReadAllBytesAsync(await artifact.GetPathAsync(PretrainedComponents.ArtifactPath(file)));
    }

    private void AssertTokenNowhere(string output, string store)
    {
        Assert.DoesNotContain(Token, output);
        Assert.DoesNotContain(Token, File.ReadAllText(LockPath));
        foreach (var file in Directory.EnumerateFiles(dir[store], "*", SearchOption.AllDirectories))
            Assert.False(Encoding.UTF8.GetString(File.ReadAllBytes(file)).Contains(Token, StringComparison.Ordinal), $"the token is in {file}");
    }

    [Fact]
    public async Task The_first_run_pins_the_lock_and_later_runs_fetch_the_pinned_commit_after_main_moves()
    {
        var clip = TinyPretrained.Clip(7);
        var vae = TinyPretrained.Autoencoder(7);
        var clipCommit = hub.Commit(PretrainedComponents.ClipRepo, clip, new HashSet<string> { PretrainedComponents.ClipWeights });
        var vaeCommit = hub.Commit(PretrainedComponents.AutoencoderRepo, new Dictionary<string, byte[]> { [PretrainedComponents.Autoencoder] = vae },
            new HashSet<string> { PretrainedComponents.Autoencoder });
        // huggingface_hub's cache (HF_HOME/hub) already holds the autoencoder at that commit: it is used, not downloaded.
        var cached = dir[$"hf/hub/models--thu-ml--unidiffuser-v1/snapshots/{vaeCommit}/{PretrainedComponents.Autoencoder}"];
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        File.WriteAllBytes(cached, vae);

        var first = await Fusion("store1");
        Assert.True(first.Code == 0, first.Output);
        Assert.Contains($"pinned 4 weight file(s) in {LockPath}; commit it", first.Output);
        var pinned = WeightsLock.Read(LockPath);
        Assert.Equal(4, pinned.Files.Count);
        foreach (var f in pinned.Files)
        {
            var bytes = f.Component == "autoencoder-kl" ? vae : clip[f.File];
            Assert.Equal((f.Component == "autoencoder-kl" ? vaeCommit : clipCommit, LocalHub.Sha256(bytes), (long)bytes.Length), (f.Revision, f.Sha256, f.Size));
        }
        Assert.Equal(clip[PretrainedComponents.ClipWeights], await FetchedAsync("store1", "clip-weights", PretrainedComponents.ClipWeights));
        Assert.Equal(vae, await FetchedAsync("store1", "vae-weights", PretrainedComponents.Autoencoder));
        Assert.Equal(0, server.Count($"{PretrainedComponents.AutoencoderRepo}/resolve/{vaeCommit}/{PretrainedComponents.Autoencoder}"));
        Assert.Equal(1, server.Count($"{PretrainedComponents.ClipRepo}/resolve/{clipCommit}/{PretrainedComponents.ClipWeights}"));
        Assert.All(server.Requests, r => Assert.Equal("Bearer " + Token, r.Authorization));
        AssertTokenNowhere(first.Output, "store1");

        // main moves to other weights; a run on an empty store still fetches the pinned commit, and the lock stays.
        hub.Commit(PretrainedComponents.ClipRepo, TinyPretrained.Clip(8), new HashSet<string> { PretrainedComponents.ClipWeights });
        var locked = File.ReadAllText(LockPath);
        var before = server.Requests.Count;
        var second = await Fusion("store2");
        Assert.True(second.Code == 0, second.Output);
        Assert.DoesNotContain("pinned", second.Output);
        Assert.Equal(locked, File.ReadAllText(LockPath));
        var later = server.Requests.Skip(before).Select(r => r.Path).ToList();
        Assert.Contains($"/{PretrainedComponents.ClipRepo}/resolve/{clipCommit}/{PretrainedComponents.ClipWeights}", later);
        Assert.All(later, p => Assert.Contains($"/resolve/{clipCommit}/", p));   // no API call, nothing at main
        Assert.Equal(clip[PretrainedComponents.ClipWeights], await FetchedAsync("store2", "clip-weights", PretrainedComponents.ClipWeights));
        AssertTokenNowhere(second.Output, "store2");
    }

    [Fact]
    public async Task A_file_that_differs_from_the_lock_exits_3_naming_it_and_both_digests()
    {
        File.WriteAllText(dir["p.yaml"], "stages:\n  clip-weights: {kind: fetch-weights, params: {component: clip-vit-large-patch14}}\n");
        var clip = TinyPretrained.Clip(9);
        var commit = hub.Commit(PretrainedComponents.ClipRepo, clip, new HashSet<string> { PretrainedComponents.ClipWeights });
        var settings = new HubSettings(hub.Endpoint, null, dir["hf/hub"]);
        using (var http = settings.CreateClient())
            await new WeightsPinner(settings, http, NullLogger.Instance).PinAsync(LockPath, [PretrainedComponent.ClipVitLargePatch14], default);
        var tampered = clip[PretrainedComponents.ClipWeights].ToArray();
        tampered[^1] ^= 0xff;
        var path = $"{PretrainedComponents.ClipRepo}/resolve/{commit}/{PretrainedComponents.ClipWeights}";
        server.Faults = (p, _) => p == path ? new Fault.Serve(tampered) : null;

        var (code, output) = await Fusion("store");
        Assert.True(code == 3, output);
        Assert.Contains($"error: node clip-weights failed: clip-vit-large-patch14/model.safetensors from {server.Url(path)} does not match weights.lock.json: " +
                        $"SHA-256 {LocalHub.Sha256(tampered)}, expected {LocalHub.Sha256(clip[PretrainedComponents.ClipWeights])}", output);
        Assert.Contains("allow_unpinned: true", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task A_hub_that_cannot_be_reached_while_pinning_exits_3_and_leaves_the_lock_alone()
    {
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var (code, output) = await Fusion("store", $"http://127.0.0.1:{port}/");
        Assert.True(code == 3, output);
        Assert.Contains($"127.0.0.1:{port}", output);
        Assert.DoesNotContain("   at ", output);
        Assert.False(File.Exists(LockPath));
    }
}

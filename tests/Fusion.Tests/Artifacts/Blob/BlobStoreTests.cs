using System.Security.Cryptography;
using Azure.Storage;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Tests.Support;

namespace Fusion.Tests.Artifacts.Blob;

/// <summary>What only a shared remote store must survive: runners on several machines, crashes, leases, credentials.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobStoreTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly string _container = AzuriteFixture.NewContainer();
    private readonly TempDir _temp = new();
    private readonly List<BlobArtifactStore> _stores = [];
    private int _count;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _stores) await s.DisposeAsync();
        _temp.Dispose();
    }

    private string Location => $"azure://{AzuriteProcess.Account}/{_container}";

    private async Task<BlobArtifactStore> OpenAsync(BlobStoreOptions? options = null)
    {
        var i = Interlocked.Increment(ref _count);
        var store = await BlobArtifactStore.OpenAsync(Location, BlobCredential.FromConnectionString(azurite.ConnectionString),
            (options ?? new BlobStoreOptions()) with { WorkDirectory = _temp[$"work{i}"], CacheDirectory = _temp[$"cache{i}"] });
        _stores.Add(store);
        return store;
    }

    private static string NewFingerprint() => RandomNumberGenerator.GetHexString(64, lowercase: true);

    private static ManifestInfo Info(string node) =>
        new(node, "train", "v1", new Dictionary<string, string>(), DateTimeOffset.UtcNow, TimeSpan.FromSeconds(1));

    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task<Manifest> CommitAsync(IArtifactStore store, string fp, string name, byte[] bytes, string node = "n")
    {
        var staging = await store.BeginStagingAsync(fp);
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, name), bytes);
        return await store.CommitAsync(staging, Info(node));
    }

    [Fact]
    public async Task Two_runners_on_one_node_compute_it_once_and_share_the_result()
    {
        var fp = NewFingerprint();
        var computed = 0;
        async Task<Manifest> RunAsync(IArtifactStore store, int seed)
        {
            // What the engine does: claim, reuse a committed result, else compute and commit.
            await using var claim = await store.ClaimAsync(fp);
            if ((await store.GetManifestAsync(fp)).Manifest is { } done) return done;
            Interlocked.Increment(ref computed);
            await Task.Delay(500); // the node's work, while the other runner waits on the claim
            return await CommitAsync(store, fp, "out.bin", Bytes(10_000, seed), $"runner{seed}");
        }
        var (a, b) = (await OpenAsync(), await OpenAsync());
        var results = await Task.WhenAll(RunAsync(a, 1), RunAsync(b, 2));

        Assert.Equal(1, computed);
        Assert.Equal(results[0].Files, results[1].Files);
        Assert.Equal(results[0].CommittedUtc, results[1].CommittedUtc);
    }

    [Fact]
    public async Task Azurite_killed_mid_upload_leaves_no_artifact_and_the_rerun_completes()
    {
        var fp = NewFingerprint();
        var bytes = Bytes(24 << 20, 7);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fragile = new BlobStoreOptions
        {
            BlockBytes = 128 << 10, TransferConcurrency = 1, MaxRetries = 1, SdkMaxRetries = 0, CommitRetryDelays = [],
            RetryBaseDelay = TimeSpan.FromMilliseconds(100), OperationTimeout = TimeSpan.FromSeconds(5),
            // Progress is reported synchronously by the upload: holding it after the first MiB keeps the upload in
            // flight until Azurite is dead, however fast or slow the machine.
            TransferProgress = (_, done, _) => { if (done >= 1 << 20 && started.TrySetResult()) killed.Task.Wait(TimeSpan.FromSeconds(60)); },
        };
        var store = await OpenAsync(fragile);
        var staging = await store.BeginStagingAsync(fp);
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "weights.bin"), bytes);

        var commit = store.CommitAsync(staging, Info("train"));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await azurite.KillAsync();
        killed.SetResult();
        var failure = await Assert.ThrowsAsync<BlobStoreException>(() => commit);
        Assert.Contains("weights.bin", failure.Message);
        Assert.True(Directory.Exists(staging.Directory), "a failed commit keeps its staging folder");

        await azurite.RestartAsync();
        var rerun = await OpenAsync();
        Assert.Equal(ManifestLookup.Absent, await rerun.GetManifestAsync(fp));
        await foreach (var _ in rerun.ListArtifactsAsync()) Assert.Fail("no artifact may be visible");

        var m = await CommitAsync(rerun, fp, "weights.bin", bytes);
        Assert.True((await (await OpenAsync()).GetManifestAsync(fp, verifyHashes: true)).Found);
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(await File.ReadAllBytesAsync(await rerun.GetLocalPathAsync(m, "weights.bin"))));
    }

    [Fact]
    public async Task A_commit_waits_out_an_outage_and_resumes_its_uploads()
    {
        var fp = NewFingerprint();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = 1;
        var store = await OpenAsync(new BlobStoreOptions
        {
            BlockBytes = 128 << 10, TransferConcurrency = 1, FileConcurrency = 1, MaxRetries = 1, SdkMaxRetries = 0,
            RetryBaseDelay = TimeSpan.FromMilliseconds(100), OperationTimeout = TimeSpan.FromSeconds(5),
            CommitRetryDelays = [TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20)],
            // The outage begins while b.bin is half up (a.bin is done): the progress report holds until Azurite is down.
            TransferProgress = (blob, done, _) =>
            {
                if (blob.EndsWith("/b.bin", StringComparison.Ordinal) && done >= 1 << 20 && Interlocked.Exchange(ref hold, 0) == 1)
                {
                    started.SetResult();
                    killed.Task.Wait(TimeSpan.FromSeconds(60));
                }
            },
        });
        var staging = await store.BeginStagingAsync(fp);
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "a.bin"), Bytes(50_000, 1));
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "b.bin"), Bytes(4 << 20, 2));

        var commit = store.CommitAsync(staging, Info("train"));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        // The service goes away: stopped rather than killed, because a killed Azurite can lose its last seconds of
        // metadata (this test's new container among them), which real storage never does.
        await azurite.Azurite.StopAsync();
        killed.SetResult();
        await azurite.RestartAsync(); // while the commit pauses after its per-operation retries gave up

        var m = await commit.WaitAsync(TimeSpan.FromSeconds(90));
        var reader = await OpenAsync();
        Assert.True((await reader.GetManifestAsync(fp, verifyHashes: true)).Found);
        Assert.Equal(Bytes(4 << 20, 2), await File.ReadAllBytesAsync(await reader.GetLocalPathAsync(m, "b.bin")));
        Assert.False(Directory.Exists(staging.Directory));
    }

    [Fact]
    public async Task A_large_file_goes_up_in_blocks_with_its_hash_in_the_metadata()
    {
        var store = await OpenAsync(new BlobStoreOptions { BlockBytes = 64 << 10, TransferConcurrency = 3 });
        var fp = NewFingerprint();
        var bytes = Bytes((64 << 10) * 5 + 12_345, 5);
        var m = await CommitAsync(store, fp, "weights.bin", bytes);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), m.File("weights.bin").Sha256);
        var blob = BlobTestUtil.Container(azurite, _container).GetBlockBlobClient(BlobLayout.FileOf(m, m.File("weights.bin")));
        var blocks = (await blob.GetBlockListAsync()).Value.CommittedBlocks.ToList();
        Assert.Equal(6, blocks.Count);
        Assert.Equal(12_345, blocks[^1].SizeLong);
        Assert.Equal(m.File("weights.bin").Sha256, (await blob.GetPropertiesAsync()).Value.Metadata["sha256"]);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(await (await OpenAsync()).GetLocalPathAsync(m, "weights.bin")));
    }

    [Fact]
    public async Task A_failed_commit_resumes_and_uploads_only_what_is_missing_or_changed()
    {
        var uploads = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var failOnce = 1;
        var store = await OpenAsync(new BlobStoreOptions
        {
            FileConcurrency = 1,
            // The first attempt dies right after c.bin went up (b.bin and a.bin before it, in name order).
            TransferProgress = (blob, _, _) =>
            {
                uploads.Enqueue(blob[(blob.LastIndexOf('/') + 1)..]);
                if (blob.EndsWith("/c.bin", StringComparison.Ordinal) && Interlocked.Exchange(ref failOnce, 0) == 1)
                    throw new IOException("the machine went away");
            },
        });
        var fp = NewFingerprint();
        var staging = await store.BeginStagingAsync(fp);
        foreach (var (name, seed) in new[] { ("a.bin", 1), ("b.bin", 2), ("c.bin", 3), ("d.bin", 4) })
            await File.WriteAllBytesAsync(Path.Combine(staging.Directory, name), Bytes(3000, seed));
        await Assert.ThrowsAnyAsync<Exception>(() => store.CommitAsync(staging, Info("train")));
        Assert.Equal(["a.bin", "b.bin", "c.bin"], uploads);
        Assert.Equal(ManifestLookup.Absent, await store.GetManifestAsync(fp));

        // Between the attempts b.bin is rewritten: its blob no longer matches and goes up again.
        await File.WriteAllBytesAsync(Path.Combine(staging.Directory, "b.bin"), Bytes(3000, 22));
        uploads.Clear();
        var m = await store.CommitAsync(staging, Info("train"));
        Assert.Equal(["b.bin", "d.bin"], uploads);
        var reader = await OpenAsync();
        Assert.True((await reader.GetManifestAsync(fp, verifyHashes: true)).Found);
        Assert.Equal(Bytes(3000, 22), await File.ReadAllBytesAsync(await reader.GetLocalPathAsync(m, "b.bin")));
    }

    [Fact]
    public async Task The_committing_machine_reads_its_artifact_from_its_cache_and_others_download_it()
    {
        var (writer, other) = (await OpenAsync(), await OpenAsync());
        var fp = NewFingerprint();
        var m = await CommitAsync(writer, fp, "checkpoint.pt", Bytes(300_000, 8));
        Assert.Equal(writer.Cache.EntryPath(m.File("checkpoint.pt")), writer.Cache.TryGet(m.File("checkpoint.pt")));

        await BlobTestUtil.Container(azurite, _container).GetBlobClient(BlobLayout.FileOf(m, m.File("checkpoint.pt"))).DeleteAsync();
        Assert.Equal(Bytes(300_000, 8), await File.ReadAllBytesAsync(await writer.GetLocalPathAsync(m, "checkpoint.pt")));
        var e = await Assert.ThrowsAsync<ArtifactCorruptException>(() => other.GetLocalPathAsync(m, "checkpoint.pt"));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public async Task The_losers_of_a_commit_race_delete_their_uploads()
    {
        var fp = NewFingerprint();
        var stores = new[] { await OpenAsync(), await OpenAsync(), await OpenAsync() };
        var stagings = new List<StagingArea>();
        for (var i = 0; i < stores.Length; i++)
        {
            stagings.Add(await stores[i].BeginStagingAsync(fp));
            await File.WriteAllBytesAsync(Path.Combine(stagings[i].Directory, "out.bin"), Bytes(20_000, 30 + i));
        }
        var results = await Task.WhenAll(stores.Select((s, i) => s.CommitAsync(stagings[i], Info($"runner{i}"))));

        var winner = results[0];
        Assert.All(results, r => Assert.Equal(winner.UploadId, r.UploadId));
        var left = new List<string>();
        await foreach (var b in BlobTestUtil.Container(azurite, _container).GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = BlobLayout.ArtifactPrefix(fp) })) left.Add(b.Name);
        Assert.Equal([BlobLayout.FileOf(winner, winner.File("out.bin"))], left);
        // Only the winner's machine holds the bytes in its cache; a loser's own bytes were not adopted.
        Assert.Equal(1, stores.Count(s => s.Cache.TryGet(winner.File("out.bin")) is not null));
    }

    [Fact]
    public async Task Gc_removes_upload_folders_no_manifest_lists_once_old_and_unclaimed()
    {
        var store = await OpenAsync();
        var container = BlobTestUtil.Container(azurite, _container);
        // A committed artifact with a stray folder beside it (a race loser that died before cleaning up) ...
        var done = NewFingerprint();
        var m = await CommitAsync(store, done, "out.bin", Bytes(1000, 1));
        await container.GetBlobClient(BlobLayout.File(done, "0123456789abcdef0123456789abcdef", "out.bin")).UploadAsync(new BinaryData(Bytes(500, 2)));
        // ... and a commit that failed after its first file (no manifest).
        var failed = NewFingerprint();
        await container.GetBlobClient(BlobLayout.File(failed, "fedcba9876543210fedcba9876543210", "a.bin")).UploadAsync(new BinaryData(Bytes(300, 3)));

        Assert.Empty((await store.CleanLeftoversAsync(TimeSpan.FromHours(1), dryRun: false)).Folders); // too recent
        await using (await store.ClaimAsync(failed))
        {
            var whileClaimed = await store.CleanLeftoversAsync(TimeSpan.Zero, dryRun: false);
            Assert.Equal([$"{done}/0123456789abcdef0123456789abcdef"], whileClaimed.Folders); // a held claim may be committing
        }
        var dry = await store.CleanLeftoversAsync(TimeSpan.Zero, dryRun: true);
        Assert.Equal([$"{failed}/fedcba9876543210fedcba9876543210"], dry.Folders);
        Assert.Equal(300, dry.Bytes);
        Assert.Equal(dry.Folders, (await store.CleanLeftoversAsync(TimeSpan.Zero, dryRun: false)).Folders);

        var left = new List<string>();
        await foreach (var b in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = BlobLayout.ArtifactFolder })) left.Add(b.Name);
        Assert.Equal([BlobLayout.FileOf(m, m.File("out.bin"))], left);
        Assert.True((await (await OpenAsync()).GetManifestAsync(done, verifyHashes: true)).Found);
    }

    [Fact]
    public async Task Fusion_run_on_a_blob_store_shows_large_transfers_and_reuses_its_artifacts()
    {
        await OpenAsync(); // creates the container
        // 17 MB of output: above the size from which the CLI shows a transfer.
        var pipeline = _temp["big.yaml"];
        await File.WriteAllTextAsync(pipeline, "stages:\n  big:\n    kind: constant\n    params: {text: x, repeat: 17000000}\n");
        var plugin = typeof(Fusion.Tests.Workflow.ConstantStage).Assembly.Location;
        var environment = new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.ConnectionString, ["HOME"] = _temp["home"] };
        string[] args = ["run", pipeline, "--store", Location, "--plugin", plugin, "--device", "cpu"];

        var (code, output) = await FusionCli.RunAsync(args, TimeSpan.FromMinutes(2), _temp.Path, environment);
        Assert.True(code == 0, output);
        Assert.Matches(@"⇅ out\.txt \([0-9a-f]{12}\): 17/17 MB", output); // redirected output: plain lines
        Assert.DoesNotContain(AzuriteProcess.AccountKey, output);

        var (again, cached) = await FusionCli.RunAsync(args, TimeSpan.FromMinutes(2), _temp.Path, environment);
        Assert.True(again == 0, cached);
        Assert.Contains("cached", cached);
        Assert.DoesNotContain("⇅", cached);
    }

    [Fact]
    public async Task Manifests_of_the_earlier_layout_are_still_read()
    {
        // Before upload folders, each file lay under its SHA-256 and manifests had no upload id.
        var fp = NewFingerprint();
        var bytes = Bytes(7000, 9);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var old = new Manifest(fp, Info("train"), [new ArtifactFile("x.bin", bytes.Length, sha)], DateTimeOffset.UtcNow);
        await OpenAsync(); // creates the container
        var container = BlobTestUtil.Container(azurite, _container);
        await container.GetBlobClient($"artifacts/{fp}/{sha}/x.bin").UploadAsync(new BinaryData(bytes));
        await container.GetBlobClient($"manifests/{fp}.json").UploadAsync(new BinaryData(ManifestJson.Serialize(old)));

        var store = await OpenAsync();
        var m = (await store.GetManifestAsync(fp, verifyHashes: true)).Manifest;
        Assert.NotNull(m);
        Assert.Null(m.UploadId);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(await store.GetLocalPathAsync(m, "x.bin")));
    }

    [Fact]
    public async Task A_crashed_holders_lease_expires_and_another_runner_takes_over()
    {
        var fp = NewFingerprint();
        var store = await OpenAsync(new BlobStoreOptions { LeaseDuration = TimeSpan.FromSeconds(15) });
        // The crashed holder: took the claim's lease (15 s, the minimum) and never renews it.
        var claimBlob = BlobTestUtil.Container(azurite, _container).GetBlobClient(BlobLayout.Claim(fp));
        await claimBlob.UploadAsync(BinaryData.Empty);
        var crashed = claimBlob.GetBlobLeaseClient();
        await crashed.AcquireAsync(TimeSpan.FromSeconds(15));

        var takeover = store.ClaimAsync(fp);
        await Task.Delay(3000);
        Assert.False(takeover.IsCompleted, "the claim must wait while the lease is alive");
        await using var claim = Assert.IsType<BlobClaim>(await takeover.WaitAsync(TimeSpan.FromSeconds(45)));
        Assert.False(claim.Lost.IsCancellationRequested);
        await Assert.ThrowsAsync<Azure.RequestFailedException>(() => crashed.RenewAsync()); // the old holder lost it
    }

    [Fact]
    public async Task A_held_claim_is_renewed_beyond_its_lease_duration()
    {
        var fp = NewFingerprint();
        // 15 s lease; the waiter polls at least every second, so a lapsed lease would be taken by 16 s.
        var options = new BlobStoreOptions { LeaseDuration = TimeSpan.FromSeconds(15), ClaimPollMax = TimeSpan.FromSeconds(1) };
        var (holder, waiter) = (await OpenAsync(options), await OpenAsync(options));
        var claim = (BlobClaim)await holder.ClaimAsync(fp);
        var waiting = waiter.ClaimAsync(fp);
        await Task.Delay(TimeSpan.FromSeconds(17.5));
        Assert.False(waiting.IsCompleted, "a renewed claim must not expire");
        Assert.False(claim.Lost.IsCancellationRequested);
        await claim.DisposeAsync();
        await using var next = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Wrong_credentials_fail_clearly_without_the_secret()
    {
        var wrongKey = Convert.ToBase64String(Bytes(64, 99));
        var cs = azurite.ConnectionString.Replace(AzuriteProcess.AccountKey, wrongKey);
        var credential = BlobCredential.FromConnectionString(cs);
        Assert.DoesNotContain(wrongKey, credential.ToString());

        var e = await Assert.ThrowsAsync<BlobStoreException>(() => BlobArtifactStore.OpenAsync(Location, credential, new BlobStoreOptions { WorkDirectory = _temp["w"] }));
        Assert.True(e.IsAuthentication, e.Message);
        Assert.True(e.Message.Contains("credentials were rejected"), e.Message);
        Assert.Contains(Location, e.Message);
        Assert.DoesNotContain(wrongKey, e.ToString());
        Assert.DoesNotContain(wrongKey[..20], e.ToString());

        const string badSig = "sv=2025-01-05&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&sig=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MA%3D%3D";
        var sasError = await Assert.ThrowsAsync<BlobStoreException>(() => BlobArtifactStore.OpenAsync(Location, BlobCredential.FromSas(badSig),
            new BlobStoreOptions { ServiceEndpoint = azurite.Azurite.BlobEndpoint, WorkDirectory = _temp["w"] }));
        Assert.True(sasError.IsAuthentication, sasError.Message);
        Assert.DoesNotContain("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MA", sasError.ToString());
    }

    [Fact]
    public async Task A_container_SAS_is_enough_to_use_the_store()
    {
        await OpenAsync(); // creates the container
        var sas = new BlobSasBuilder(BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1)) { BlobContainerName = _container }
            .ToSasQueryParameters(new StorageSharedKeyCredential(AzuriteProcess.Account, AzuriteProcess.AccountKey)).ToString();
        var store = await BlobArtifactStore.OpenAsync(Location, BlobCredential.FromSas(sas),
            new BlobStoreOptions { ServiceEndpoint = azurite.Azurite.BlobEndpoint, WorkDirectory = _temp["sas"], CacheDirectory = _temp["sascache"] });
        var fp = NewFingerprint();
        var m = await CommitAsync(store, fp, "x.bin", Bytes(1000, 1));
        Assert.True((await store.GetManifestAsync(fp, verifyHashes: true)).Found);
        Assert.Equal(Bytes(1000, 1), await File.ReadAllBytesAsync(await store.GetLocalPathAsync(m, "x.bin")));
        Assert.Equal(Location, store.Location);
    }

    [Fact]
    public async Task A_second_read_comes_from_the_local_cache()
    {
        var store = await OpenAsync();
        var fp = NewFingerprint();
        var m = await CommitAsync(store, fp, "shard.bin", Bytes(200_000, 3));
        var first = await store.GetLocalPathAsync(m, "shard.bin");
        Assert.StartsWith(store.Cache.Root, first);
        Assert.Equal("shard.bin", Path.GetFileName(first));

        // The blob is gone, yet the verified local copy still serves the read.
        await BlobTestUtil.Container(azurite, _container).GetBlobClient(BlobLayout.FileOf(m, m.Files[0])).DeleteAsync();
        var second = await store.GetLocalPathAsync(m, "shard.bin");
        Assert.Equal(first, second);
        Assert.Equal(Bytes(200_000, 3), await File.ReadAllBytesAsync(second));
    }

    [Fact]
    public async Task The_cache_evicts_the_least_recently_used_files_beyond_its_bound()
    {
        var store = await OpenAsync(new BlobStoreOptions { CacheMaxBytes = 250_000 });
        var m = await CommitAsync(store, NewFingerprint(), "a", Bytes(100_000, 1));
        var n = await CommitAsync(store, NewFingerprint(), "b", Bytes(100_000, 2));
        var o = await CommitAsync(store, NewFingerprint(), "c", Bytes(100_000, 3));
        var a = await store.GetLocalPathAsync(m, "a");
        await Task.Delay(50);
        var b = await store.GetLocalPathAsync(n, "b");
        await Task.Delay(50);
        Assert.Equal(a, await store.GetLocalPathAsync(m, "a")); // a is now more recent than b
        await Task.Delay(50);
        var c = await store.GetLocalPathAsync(o, "c");

        Assert.True(File.Exists(a));
        Assert.False(File.Exists(b));
        Assert.True(File.Exists(c));
    }

    [Fact]
    public async Task A_corrupt_blob_is_not_cached_and_names_both_hashes()
    {
        var store = await OpenAsync();
        var fp = NewFingerprint();
        var bytes = Bytes(5000, 4);
        var m = await CommitAsync(store, fp, "x.bin", bytes);
        bytes[0] ^= 1;
        await BlobTestUtil.Container(azurite, _container).GetBlobClient(BlobLayout.FileOf(m, m.Files[0])).UploadAsync(new BinaryData(bytes), overwrite: true);

        var reader = await OpenAsync();
        var e = await Assert.ThrowsAsync<ArtifactCorruptException>(() => reader.GetLocalPathAsync(m, "x.bin"));
        Assert.Contains(m.Files[0].Sha256, e.Message);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(bytes)), e.Message);
        Assert.Empty(Directory.EnumerateFiles(reader.Cache.Root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Locations_parse_and_print_without_secrets()
    {
        var a = BlobStoreAddress.Parse("azure://myacct/models/team/run1/");
        Assert.Equal(new BlobStoreAddress("myacct", "models", "team/run1"), a);
        Assert.Equal("azure://myacct/models/team/run1", a.ToString());
        Assert.Equal("", BlobStoreAddress.Parse("azure://myacct/models").Prefix);
        foreach (var bad in new[] { "s3://a/b", "azure://myacct", "azure://My_Acct/models", "azure://myacct/Models", "azure://myacct/a--b", "azure://myacct/models/../x" })
            Assert.Throws<FormatException>(() => BlobStoreAddress.Parse(bad));
        Assert.Equal("SAS token (secret hidden)", BlobCredential.FromSas("?sv=1&sig=SECRET").ToString());
    }
}

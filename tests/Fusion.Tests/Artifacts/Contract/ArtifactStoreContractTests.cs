using System.Security.Cryptography;
using System.Text;
using Fusion.Artifacts.Store;

namespace Fusion.Tests.Artifacts.Contract;

/// <summary>
/// The behaviour every <see cref="IArtifactStore"/> must have, written against the interface only. A store gets these
/// tests by subclassing and saying how to create a fresh, empty store and how to damage a committed file behind the
/// store's back (the only thing the interface cannot express).
/// </summary>
public abstract class ArtifactStoreContractTests : IAsyncLifetime
{
    private readonly List<IArtifactStore> _stores = [];

    /// <summary>A new, empty store; each call within a test must see the same data (a second process on it).</summary>
    protected abstract Task<IArtifactStore> CreateStoreAsync();

    /// <summary>Replaces a committed file's bytes behind the store's back, or deletes the file when null.</summary>
    protected abstract Task TamperAsync(IArtifactStore store, Manifest manifest, string fileName, byte[]? replacement);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _stores) await s.DisposeAsync();
    }

    protected async Task<IArtifactStore> StoreAsync()
    {
        var s = await CreateStoreAsync();
        _stores.Add(s);
        return s;
    }

    protected static string NewFingerprint() => RandomNumberGenerator.GetHexString(64, lowercase: true);

    protected static ManifestInfo Info(string node = "train/early") => new(
        node, "train", "code-1", new Dictionary<string, string> { ["params"] = "abc", ["inputs"] = "def" },
        new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), TimeSpan.FromSeconds(42), new Dictionary<string, string> { ["loss"] = "0.5" });

    protected static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>Stages the given files (relative '/'-paths) and commits them.</summary>
    protected static async Task<Manifest> CommitAsync(IArtifactStore store, string fp, params (string Name, byte[] Bytes)[] files)
    {
        var staging = await store.BeginStagingAsync(fp);
        foreach (var (name, bytes) in files)
        {
            var path = Path.Combine(staging.Directory, name.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, bytes);
        }
        return await store.CommitAsync(staging, Info());
    }

    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task<List<string>> ToListAsync(IAsyncEnumerable<string> items)
    {
        var list = new List<string>();
        await foreach (var x in items) list.Add(x);
        return list;
    }

    private static void AssertSameManifest(Manifest expected, Manifest actual)
    {
        Assert.Equal(expected.Fingerprint, actual.Fingerprint);
        Assert.Equal(expected.Files, actual.Files);
        Assert.Equal(expected.CommittedUtc, actual.CommittedUtc);
        Assert.Equal(expected.Info.NodeId, actual.Info.NodeId);
        Assert.Equal(expected.Info.Elapsed, actual.Info.Elapsed);
        Assert.Equal(expected.Info.StartedUtc, actual.Info.StartedUtc);
        Assert.Equal(expected.Info.FingerprintParts.OrderBy(k => k.Key), actual.Info.FingerprintParts.OrderBy(k => k.Key));
        Assert.Equal(expected.Info.Summary!.OrderBy(k => k.Key), actual.Info.Summary!.OrderBy(k => k.Key));
    }

    [Fact]
    public async Task Commit_makes_the_artifact_visible_with_sizes_hashes_and_bytes()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var (a, b, empty) = (Bytes(3000, 1), Bytes(100_000, 2), Array.Empty<byte>());
        var committed = await CommitAsync(store, fp, ("model.bin", b), ("sub/dir/a.txt", a), ("empty", empty));

        Assert.Equal(fp, committed.Fingerprint);
        Assert.Equal(["empty", "model.bin", "sub/dir/a.txt"], committed.Files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Equal(new ArtifactFile("model.bin", b.Length, Sha(b)), committed.File("model.bin"));
        Assert.Equal(new ArtifactFile("sub/dir/a.txt", a.Length, Sha(a)), committed.File("sub/dir/a.txt"));
        Assert.Equal(new ArtifactFile("empty", 0, Sha(empty)), committed.File("empty"));

        var lookup = await (await StoreAsync()).GetManifestAsync(fp, verifyHashes: true);
        Assert.True(lookup.Found, lookup.Problem);
        Assert.Null(lookup.Problem);
        AssertSameManifest(committed, lookup.Manifest!);
        foreach (var (name, bytes) in new[] { ("model.bin", b), ("sub/dir/a.txt", a), ("empty", empty) })
            Assert.Equal(bytes, await File.ReadAllBytesAsync(await store.GetLocalPathAsync(lookup.Manifest!, name)));
        Assert.Throws<KeyNotFoundException>(() => committed.File("nope"));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetLocalPathAsync(committed, "nope"));
    }

    [Fact]
    public async Task Staged_files_are_invisible_until_commit_and_staging_is_consumed()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var staging = await store.BeginStagingAsync(fp);
        Assert.Equal(fp, staging.Fingerprint);
        await File.WriteAllTextAsync(Path.Combine(staging.Directory, "x.txt"), "hello");

        Assert.Equal(ManifestLookup.Absent, await store.GetManifestAsync(fp));
        Assert.DoesNotContain(fp, await ToListAsync(store.ListArtifactsAsync()));

        var m = await store.CommitAsync(staging, Info());
        Assert.False(Directory.Exists(staging.Directory));
        Assert.True((await store.GetManifestAsync(fp)).Found);
        Assert.Contains(fp, await ToListAsync(store.ListArtifactsAsync()));
        Assert.Equal("hello", await File.ReadAllTextAsync(await store.GetLocalPathAsync(m, "x.txt")));
    }

    [Fact]
    public async Task Two_stagings_of_one_fingerprint_are_private_folders()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var s1 = await store.BeginStagingAsync(fp);
        var s2 = await store.BeginStagingAsync(fp);
        Assert.NotEqual(s1.Directory, s2.Directory);
        Assert.Empty(Directory.EnumerateFileSystemEntries(s1.Directory));
    }

    [Fact]
    public async Task Concurrent_commits_of_one_fingerprint_all_return_the_winners_manifest()
    {
        var stores = new[] { await StoreAsync(), await StoreAsync(), await StoreAsync() };
        var fp = NewFingerprint();
        // Different bytes per committer (e.g. non-deterministic training): exactly one result must win everywhere.
        var stagings = new List<StagingArea>();
        for (var i = 0; i < stores.Length; i++)
        {
            var st = await stores[i].BeginStagingAsync(fp);
            await File.WriteAllBytesAsync(Path.Combine(st.Directory, "out.bin"), Bytes(50_000, 10 + i));
            stagings.Add(st);
        }
        var results = await Task.WhenAll(stores.Select((s, i) => s.CommitAsync(stagings[i], Info($"node{i}"))));

        var stored = (await stores[0].GetManifestAsync(fp, verifyHashes: true)).Manifest;
        Assert.NotNull(stored);
        foreach (var r in results) AssertSameManifest(stored, r);
        var bytes = await File.ReadAllBytesAsync(await stores[2].GetLocalPathAsync(results[2], "out.bin"));
        Assert.Equal(stored.File("out.bin").Sha256, Sha(bytes));
        Assert.All(stagings, s => Assert.False(Directory.Exists(s.Directory)));
    }

    [Fact]
    public async Task A_later_commit_does_not_overwrite_an_existing_artifact()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var first = await CommitAsync(store, fp, ("out.bin", Bytes(1000, 1)));
        var second = await CommitAsync(await StoreAsync(), fp, ("out.bin", Bytes(2000, 2)), ("extra", Bytes(10, 3)));
        AssertSameManifest(first, second);
        Assert.Equal(Bytes(1000, 1), await File.ReadAllBytesAsync(await store.GetLocalPathAsync(second, "out.bin")));
    }

    [Fact]
    public async Task A_missing_file_makes_the_artifact_absent_with_a_problem()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var m = await CommitAsync(store, fp, ("keep.bin", Bytes(100, 1)), ("gone.bin", Bytes(100, 2)));
        await TamperAsync(store, m, "gone.bin", null);

        var lookup = await (await StoreAsync()).GetManifestAsync(fp);
        Assert.False(lookup.Found);
        Assert.Contains("gone.bin", lookup.Problem);
    }

    [Fact]
    public async Task A_file_of_another_size_makes_the_artifact_absent_and_is_not_served()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var m = await CommitAsync(store, fp, ("data.bin", Bytes(1000, 1)));
        await TamperAsync(store, m, "data.bin", Bytes(999, 1));

        var other = await StoreAsync();
        var lookup = await other.GetManifestAsync(fp);
        Assert.False(lookup.Found);
        Assert.Contains("data.bin", lookup.Problem);
        await Assert.ThrowsAsync<ArtifactCorruptException>(() => other.GetLocalPathAsync(m, "data.bin"));
    }

    [Fact]
    public async Task Same_size_corruption_is_found_by_hash_verification_and_never_served()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var m = await CommitAsync(store, fp, ("data.bin", Bytes(4096, 1)), ("ok.bin", Bytes(10, 2)));
        var bad = Bytes(4096, 1);
        bad[1234] ^= 0xFF;
        await TamperAsync(store, m, "data.bin", bad);

        var other = await StoreAsync();
        Assert.True((await other.GetManifestAsync(fp, verifyHashes: false)).Found);
        var verified = await other.GetManifestAsync(fp, verifyHashes: true);
        Assert.False(verified.Found);
        Assert.Contains("data.bin", verified.Problem);
        Assert.DoesNotContain("ok.bin", verified.Problem);

        // A reader is never handed the damaged bytes, verification asked for or not; the intact file is served.
        var e = await Assert.ThrowsAsync<ArtifactCorruptException>(() => other.GetLocalPathAsync(m, "data.bin"));
        Assert.Contains("data.bin", e.Message);
        Assert.Equal(Bytes(10, 2), await File.ReadAllBytesAsync(await other.GetLocalPathAsync(m, "ok.bin")));
    }

    [Fact]
    public async Task A_claim_is_exclusive_until_released()
    {
        var (a, b) = (await StoreAsync(), await StoreAsync());
        var fp = NewFingerprint();
        var held = await a.ClaimAsync(fp);

        var waiting = b.ClaimAsync(fp);
        await Task.Delay(1500);
        Assert.False(waiting.IsCompleted, "a second claim must wait while the first is held");

        await using (await b.ClaimAsync(NewFingerprint())) { } // other fingerprints are independent

        using (var cts = new CancellationTokenSource(300))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.ClaimAsync(fp, cts.Token));

        await held.DisposeAsync();
        await using var second = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Documents_round_trip_overwrite_list_and_delete()
    {
        var store = await StoreAsync();
        Assert.Null(await store.GetDocumentAsync("ledger/runs/1.json"));
        await store.PutDocumentAsync("ledger/runs/1.json", Encoding.UTF8.GetBytes("{\"a\":1}"));
        await store.PutDocumentAsync("ledger/runs/2.json", Encoding.UTF8.GetBytes("{}"));
        await store.PutDocumentAsync("ledger/index.json", Encoding.UTF8.GetBytes("[]"));
        await store.PutDocumentAsync("ledgers.json", Encoding.UTF8.GetBytes("x"));
        await store.PutDocumentAsync("pins.json", ReadOnlyMemory<byte>.Empty);

        var other = await StoreAsync();
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString((await other.GetDocumentAsync("ledger/runs/1.json"))!));
        Assert.Empty((await other.GetDocumentAsync("pins.json"))!);
        await store.PutDocumentAsync("ledger/runs/1.json", Encoding.UTF8.GetBytes("{\"a\":2}"));
        Assert.Equal("{\"a\":2}", Encoding.UTF8.GetString((await other.GetDocumentAsync("ledger/runs/1.json"))!));

        Assert.Equal(["ledger/index.json", "ledger/runs/1.json", "ledger/runs/2.json"], (await ToListAsync(other.ListDocumentsAsync("ledger"))).Order(StringComparer.Ordinal));
        Assert.Equal(["ledger/runs/1.json", "ledger/runs/2.json"], (await ToListAsync(other.ListDocumentsAsync("ledger/runs/"))).Order(StringComparer.Ordinal));
        Assert.Equal(5, (await ToListAsync(other.ListDocumentsAsync(""))).Count);
        Assert.Empty(await ToListAsync(other.ListDocumentsAsync("nothing")));

        await store.DeleteDocumentAsync("ledger/runs/1.json");
        await store.DeleteDocumentAsync("ledger/runs/1.json"); // deleting what is gone is fine
        Assert.Null(await other.GetDocumentAsync("ledger/runs/1.json"));
        Assert.Equal(["ledger/index.json", "ledger/runs/2.json"], (await ToListAsync(other.ListDocumentsAsync("ledger"))).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Document_paths_that_escape_are_rejected()
    {
        var store = await StoreAsync();
        foreach (var bad in new[] { "../x.json", "a/../../x", "/abs.json", "a//b", "" })
            await Assert.ThrowsAsync<ArgumentException>(() => store.PutDocumentAsync(bad, new byte[] { 1 }));
    }

    [Fact]
    public async Task Artifacts_are_listed_and_deleted()
    {
        var store = await StoreAsync();
        var (f1, f2) = (NewFingerprint(), NewFingerprint());
        var m1 = await CommitAsync(store, f1, ("a", Bytes(10, 1)));
        await CommitAsync(store, f2, ("b", Bytes(10, 2)));
        Assert.Equal(new[] { f1, f2 }.Order(), (await ToListAsync(store.ListArtifactsAsync())).Order());

        await store.DeleteArtifactAsync(f1);
        Assert.Equal([f2], await ToListAsync(store.ListArtifactsAsync()));
        Assert.Equal(ManifestLookup.Absent, await (await StoreAsync()).GetManifestAsync(f1));
        await store.DeleteArtifactAsync(f1); // twice is fine

        var again = await CommitAsync(store, f1, ("a2", Bytes(20, 3))); // a deleted artifact can be recomputed
        Assert.Equal("a2", Assert.Single(again.Files).Name);
        Assert.NotEqual(m1.Files, again.Files);
    }

    [Fact]
    public async Task Scratch_survives_until_deleted()
    {
        var store = await StoreAsync();
        var fp = NewFingerprint();
        var dir = await store.GetScratchDirectoryAsync(fp);
        Assert.True(Directory.Exists(dir));
        await File.WriteAllTextAsync(Path.Combine(dir, "ckpt-100.pt"), "state");

        Assert.Equal(dir, await store.GetScratchDirectoryAsync(fp));
        Assert.Equal("state", await File.ReadAllTextAsync(Path.Combine(await store.GetScratchDirectoryAsync(fp), "ckpt-100.pt")));
        Assert.NotEqual(dir, await store.GetScratchDirectoryAsync(NewFingerprint()));

        await store.DeleteScratchAsync(fp);
        Assert.Empty(Directory.EnumerateFileSystemEntries(await store.GetScratchDirectoryAsync(fp)));
        await store.DeleteScratchAsync(fp);
        await store.DeleteScratchAsync(NewFingerprint()); // nothing there: fine
    }

    [Fact]
    public async Task Location_is_set()
    {
        var store = await StoreAsync();
        Assert.False(string.IsNullOrWhiteSpace(store.Location));
    }
}

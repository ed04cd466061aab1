using System.Diagnostics;
using System.Text;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;

namespace Fusion.Tests.Artifacts.Local;

public sealed class LocalArtifactStoreTests
{
    private const string Fp = "0123456789abcdef0123456789abcdef";

    private static ManifestInfo Info(string node = "n") =>
        new(node, "kind", "1", new Dictionary<string, string> { ["kind"] = "kind" }, DateTimeOffset.UtcNow, TimeSpan.FromSeconds(1));

    private static async Task<Manifest> CommitAsync(LocalArtifactStore store, string fp, params (string Name, string Text)[] files)
    {
        var staging = await store.BeginStagingAsync(fp);
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(staging.Directory, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, text);
        }
        return await store.CommitAsync(staging, Info());
    }

    [Fact]
    public async Task Commit_hashes_files_and_writes_the_manifest_last()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        Assert.False((await store.GetManifestAsync(Fp)).Found);
        var manifest = await CommitAsync(store, Fp, ("a.txt", "abc"), ("sub/b.bin", "12345"));
        Assert.Equal(["a.txt", "sub/b.bin"], manifest.Files.Select(f => f.Name));
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", manifest.File("a.txt").Sha256); // SHA-256("abc")
        Assert.Equal(8, manifest.TotalBytes);
        var found = (await store.GetManifestAsync(Fp, verifyHashes: true)).Manifest!;
        Assert.Equal(manifest.Files, found.Files);
        Assert.Equal("n", found.Info.NodeId);
        Assert.Equal("12345", File.ReadAllText(await store.GetLocalPathAsync(found, "sub/b.bin")));
        Assert.Equal([Fp], await ToListAsync(store.ListArtifactsAsync()));
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, "staging")));
    }

    [Fact]
    public async Task The_manifest_is_create_only_the_first_committer_wins()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        var first = await CommitAsync(store, Fp, ("a.txt", "first"));
        var second = await CommitAsync(store, Fp, ("a.txt", "second!"));
        Assert.Equal(first.Files, second.Files);
        Assert.Equal("first", File.ReadAllText(await store.GetLocalPathAsync(second, "a.txt")));
    }

    [Fact]
    public async Task Staged_or_half_committed_files_are_invisible_and_broken_manifests_are_reported_absent()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        var staging = await store.BeginStagingAsync(Fp);
        File.WriteAllText(Path.Combine(staging.Directory, "a.txt"), "abc");
        Directory.CreateDirectory(Path.Combine(store.ArtifactDirectory(Fp), "files")); // a crash between files and manifest
        Assert.Equal(ManifestLookup.Absent, await store.GetManifestAsync(Fp));
        Assert.Empty(await ToListAsync(store.ListArtifactsAsync()));
        await store.AbortStagingAsync(staging);

        var manifest = await CommitAsync(store, Fp, ("a.txt", "abc"));
        var file = Path.Combine(store.ArtifactDirectory(Fp), "files", "a.txt");
        File.WriteAllText(file, "abd"); // same size, other bytes
        Assert.True((await store.GetManifestAsync(Fp)).Found);
        var hashed = await store.GetManifestAsync(Fp, verifyHashes: true);
        Assert.False(hashed.Found);
        Assert.Contains("SHA-256", hashed.Problem);

        File.WriteAllText(file, "abcd");
        var sized = await store.GetManifestAsync(Fp);
        Assert.Contains("has 4 bytes, manifest says 3", sized.Problem);
        await Assert.ThrowsAsync<ArtifactCorruptException>(() => store.GetLocalPathAsync(manifest, "a.txt"));

        File.Delete(file);
        Assert.Contains("missing", (await store.GetManifestAsync(Fp)).Problem);

        File.WriteAllText(Path.Combine(store.ArtifactDirectory(Fp), LocalArtifactStore.ManifestFileName), "{ not json");
        Assert.Contains("unreadable", (await store.GetManifestAsync(Fp)).Problem);
        var replaced = await CommitAsync(store, Fp, ("a.txt", "fresh")); // a commit replaces a broken artifact
        Assert.Equal("fresh", File.ReadAllText(await store.GetLocalPathAsync(replaced, "a.txt")));

        await store.DeleteArtifactAsync(Fp);
        Assert.False(Directory.Exists(store.ArtifactDirectory(Fp)));
    }

    [Fact]
    public async Task Claims_are_exclusive_and_a_waiter_gets_the_claim_when_it_is_released()
    {
        using var dir = new TempDir();
        var a = new LocalArtifactStore(dir.Path);
        var b = new LocalArtifactStore(dir.Path);
        var held = await a.ClaimAsync(Fp);
        Assert.Null(b.TryClaim(Fp));
        var waiting = b.ClaimAsync(Fp);
        await Task.Delay(150);
        Assert.False(waiting.IsCompleted);
        await held.DisposeAsync();
        await using (await waiting.WaitAsync(TimeSpan.FromSeconds(10))) Assert.Null(a.TryClaim(Fp));
        await using (Assert.IsAssignableFrom<IAsyncDisposable>(a.TryClaim(Fp))) { }

        await using var again = await a.ClaimAsync(Fp);
        using var cts = new CancellationTokenSource(100);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.ClaimAsync(Fp, cts.Token));
    }

    /// <summary>
    /// Locks that fail for a reason other than a holder, reproduced as root without mount privileges: the lock file is
    /// a link to itself (ELOOP) or into a regular file (ENOTDIR), or the locks folder is a regular file.
    /// </summary>
    [Theory]
    [InlineData("link loop")]
    [InlineData("link below a file")]
    [InlineData("locks folder is a file")]
    public async Task A_lock_the_file_system_refuses_fails_at_once_naming_the_store_instead_of_waiting(string how)
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir["store"]);
        var locks = Path.Combine(store.Root, "locks");
        var lockFile = Path.Combine(locks, Fp + ".lock");
        switch (how)
        {
            case "link loop": File.CreateSymbolicLink(lockFile, lockFile); break;
            case "link below a file":
                File.WriteAllText(dir["file"], "");
                File.CreateSymbolicLink(lockFile, Path.Combine(dir["file"], "x.lock"));
                break;
            default:
                Directory.Delete(locks);
                File.WriteAllText(locks, "");
                break;
        }
        var clock = Stopwatch.StartNew();
        var refused = Assert.ThrowsAny<IOException>(() => store.TryClaim(Fp));
        Assert.StartsWith($"artifact store {store.Root} cannot be locked: ", refused.Message);
        // A regression waits for ever: the token turns that into a failure.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var waited = await Assert.ThrowsAnyAsync<IOException>(() => store.ClaimAsync(Fp, cts.Token));
        Assert.Contains(store.Root, waited.Message);
        await Assert.ThrowsAnyAsync<IOException>(() => store.IsClaimedAsync(Fp, cts.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.Null(await store.GetClaimHolderAsync(Fp));
    }

    [Fact]
    public async Task A_claim_records_its_holder_for_waiters_until_it_is_released()
    {
        using var dir = new TempDir();
        var a = new LocalArtifactStore(dir.Path);
        var b = new LocalArtifactStore(dir.Path);
        Assert.Null(await b.GetClaimHolderAsync(Fp)); // never claimed: no lock file
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await using (await a.ClaimAsync(Fp))
        {
            var holder = await b.GetClaimHolderAsync(Fp);
            Assert.NotNull(holder);
            Assert.Equal(Environment.ProcessId, holder.ProcessId);
            Assert.Equal(Environment.MachineName, holder.Host);
            Assert.InRange(holder.SinceUtc, before, DateTimeOffset.UtcNow);
            Assert.Matches($@"^pid {Environment.ProcessId} on host \S+ since \d\d:\d\d:\d\d UTC$", holder.ToString());
            Assert.Null(b.TryClaim(Fp)); // reading it did not disturb the lock
        }
        Assert.Null(await b.GetClaimHolderAsync(Fp)); // released: nobody is named

        // Whatever a crashed or half-written holder left is read as unknown, never as an error.
        var lockFile = Path.Combine(dir.Path, "locks", Fp + ".lock");
        foreach (var content in new[] { "", "{\"ProcessId\": 12", "{}", "\0\0\0", "{\"ProcessId\": 7, \"Host\": null}" })
        {
            File.WriteAllText(lockFile, content);
            Assert.Null(await b.GetClaimHolderAsync(Fp));
        }
    }

    [Fact]
    public async Task Scratch_survives_until_deleted()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        var scratch = await store.GetScratchDirectoryAsync(Fp);
        File.WriteAllText(Path.Combine(scratch, "ckpt"), "7");
        Assert.Equal("7", File.ReadAllText(Path.Combine(await new LocalArtifactStore(dir.Path).GetScratchDirectoryAsync(Fp), "ckpt")));
        Assert.Equal([Fp], store.ListScratch());
        await store.DeleteScratchAsync(Fp);
        Assert.Empty(store.ListScratch());
    }

    [Fact]
    public async Task Documents_are_replaced_atomically_and_listed_by_prefix()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        Assert.Null(await store.GetDocumentAsync("runs/x.json"));
        await store.PutDocumentAsync("runs/x.json", Encoding.UTF8.GetBytes("1"));
        await store.PutDocumentAsync("runs/x.json", Encoding.UTF8.GetBytes("22"));
        await store.PutDocumentAsync("runs/y.json", Encoding.UTF8.GetBytes("3"));
        await store.PutDocumentAsync("pins.json", Encoding.UTF8.GetBytes("[]"));
        Assert.Equal("22", Encoding.UTF8.GetString((await store.GetDocumentAsync("runs/x.json"))!));
        Assert.Equal(["runs/x.json", "runs/y.json"], (await ToListAsync(store.ListDocumentsAsync("runs/"))).Order());
        await store.DeleteDocumentAsync("runs/x.json");
        Assert.Equal(["runs/y.json"], await ToListAsync(store.ListDocumentsAsync("runs/")));
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutDocumentAsync("../escape.json", new byte[1]));
        Assert.Empty(Directory.GetFiles(Path.Combine(dir.Path, "docs"), "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Leftovers_of_crashed_runs_are_cleaned_unless_claimed()
    {
        using var dir = new TempDir();
        var store = new LocalArtifactStore(dir.Path);
        await store.BeginStagingAsync(Fp);
        var other = Fp.Replace('0', 'f');
        await store.BeginStagingAsync(other);
        Directory.CreateDirectory(Path.Combine(store.ArtifactDirectory(other), "files"));
        await using (await store.ClaimAsync(other))
            Assert.Equal(1, await store.CleanLeftoversAsync()); // `other` is being computed right now
        Assert.Equal(2, await store.CleanLeftoversAsync());
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, "staging")));

        await store.GetScratchDirectoryAsync(Fp);
        await store.GetScratchDirectoryAsync(other);
        Assert.Equal(0, await store.CleanLeftoversAsync()); // scratch is kept unless a keep-set is given
        Assert.Equal(1, await store.CleanLeftoversAsync(new HashSet<string> { Fp }));
        Assert.Equal([Fp], store.ListScratch());
    }

    private static async Task<List<string>> ToListAsync(IAsyncEnumerable<string> items)
    {
        var list = new List<string>();
        await foreach (var i in items) list.Add(i);
        return list;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Fusion.Artifacts.Store.Local;

/// <summary>
/// The embedded artifact store: a folder (by default <c>.fusion/</c> in the working directory).
/// <code>
/// artifacts/&lt;fp&gt;/files/…         committed files
/// artifacts/&lt;fp&gt;/manifest.json    written last, create-only: its presence is what makes the artifact exist
/// staging/&lt;fp&gt;.&lt;random&gt;/         private folders nodes write into (same filesystem, so commit is a rename)
/// scratch/&lt;fp&gt;/                 durable checkpoints of an unfinished node
/// locks/&lt;fp&gt;.lock               claims: held open with FileShare.None (flock on Linux), so they die with the process;
///                                the holder writes its pid, host and start time into it for waiters' messages
/// docs/…                         small JSON documents (run ledger, node index, pins), replaced atomically
/// </code>
/// </summary>
public sealed class LocalArtifactStore : IArtifactStore
{
    public const string ManifestFileName = "manifest.json";
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(1);

    public LocalArtifactStore(string root)
    {
        Root = Path.GetFullPath(root);
        // Checked first: creating the folders under a file fails with a misleading "could not find a part of the path".
        if (FileOnPath(Root) is { } file) throw new StoreNotAFolderException(Root, file);
        foreach (var dir in new[] { ArtifactsDir, StagingDir, ScratchDir, LocksDir, DocsDir }) Directory.CreateDirectory(dir);
    }

    /// <summary>The nearest existing path at or above <paramref name="path"/>, when it is a file rather than a folder.</summary>
    private static string? FileOnPath(string path)
    {
        for (var p = path; p is not null; p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p)) return p;
            if (Directory.Exists(p)) return null;
        }
        return null;
    }

    public string Root { get; }
    public string Location => Root;
    private string ArtifactsDir => Path.Combine(Root, "artifacts");
    private string StagingDir => Path.Combine(Root, "staging");
    private string ScratchDir => Path.Combine(Root, "scratch");
    private string LocksDir => Path.Combine(Root, "locks");
    private string DocsDir => Path.Combine(Root, "docs");

    /// <summary>Folder of one artifact (files/ and manifest.json); exists for readers only with its manifest.</summary>
    public string ArtifactDirectory(string fingerprint) => Path.Combine(ArtifactsDir, CheckFingerprint(fingerprint));

    public async Task<ManifestLookup> GetManifestAsync(string fingerprint, bool verifyHashes = false, CancellationToken ct = default)
    {
        var dir = ArtifactDirectory(fingerprint);
        var path = Path.Combine(dir, ManifestFileName);
        Manifest? manifest;
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, useAsync: true);
            manifest = await JsonSerializer.DeserializeAsync<Manifest>(stream, ManifestJson.Options, ct);
        }
        catch (FileNotFoundException) { return ManifestLookup.Absent; }
        catch (DirectoryNotFoundException) { return ManifestLookup.Absent; }
        catch (JsonException e) { return new ManifestLookup(null, $"manifest {path} is unreadable: {e.Message}"); }
        if (manifest is null || manifest.Fingerprint != fingerprint)
            return new ManifestLookup(null, $"manifest {path} belongs to another fingerprint ({manifest?.Fingerprint ?? "none"})");
        foreach (var file in manifest.Files)
        {
            var problem = await CheckFileAsync(dir, file, verifyHashes, ct);
            if (problem is not null) return new ManifestLookup(null, $"artifact {fingerprint[..12]} ({manifest.Info.NodeId}): {problem}");
        }
        return new ManifestLookup(manifest, null);
    }

    private static async Task<string?> CheckFileAsync(string artifactDir, ArtifactFile file, bool verifyHash, CancellationToken ct) =>
        await CheckPathAsync(FilePath(artifactDir, file.Name), file, verifyHash, ct) is { } problem ? $"file '{file.Name}' {problem}" : null;

    /// <summary>What is wrong with the committed file at <paramref name="path"/> ("is missing", "has N bytes, …"), or null.</summary>
    private static async Task<string?> CheckPathAsync(string path, ArtifactFile file, bool verifyHash, CancellationToken ct)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return "is missing";
        if (info.Length != file.Size) return $"has {info.Length} bytes, manifest says {file.Size}";
        if (!verifyHash) return null;
        var actual = await FileVerifier.Shared.Sha256Async(path, ct);
        return actual is null ? "is missing"
            : actual != file.Sha256 ? $"has SHA-256 {actual[..12]}…, manifest says {file.Sha256[..12]}…"
            : null;
    }

    public Task<StagingArea> BeginStagingAsync(string fingerprint, CancellationToken ct = default)
    {
        var dir = Path.Combine(StagingDir, $"{CheckFingerprint(fingerprint)}.{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return Task.FromResult(new StagingArea(fingerprint, dir));
    }

    public async Task<Manifest> CommitAsync(StagingArea staging, ManifestInfo info, CancellationToken ct = default)
    {
        var dir = ArtifactDirectory(staging.Fingerprint);
        var existing = await GetManifestAsync(staging.Fingerprint, false, ct);
        if (existing.Manifest is { } theirs) { TryDeleteDirectory(staging.Directory); return theirs; }
        if (existing.Problem is not null) await DeleteArtifactAsync(staging.Fingerprint, ct); // broken: this commit replaces it

        var files = new List<ArtifactFile>();
        foreach (var path in Directory.EnumerateFiles(staging.Directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var name = Path.GetRelativePath(staging.Directory, path).Replace(Path.DirectorySeparatorChar, '/');
            files.Add(new ArtifactFile(name, new FileInfo(path).Length, await FileVerifier.HashAsync(path, ct)));
        }
        ct.ThrowIfCancellationRequested();

        // Committers of one fingerprint take turns (the engine's claim already serialises its own runs; this also
        // covers direct callers), and a later one finds the winner's manifest and keeps it.
        Directory.CreateDirectory(dir);
        await using var gate = await CommitGateAsync(dir, ct);
        if ((await GetManifestAsync(staging.Fingerprint, false, ct)).Manifest is { } winner) { TryDeleteDirectory(staging.Directory); return winner; }

        // Files first (one rename on the same filesystem), manifest last: a crash in between leaves an orphan
        // files/ folder that readers never see and the next commit replaces.
        var filesDir = Path.Combine(dir, "files");
        TryDeleteDirectory(filesDir);
        Directory.Move(staging.Directory, filesDir);

        var manifest = new Manifest(staging.Fingerprint, info, files, DateTimeOffset.UtcNow);
        var temp = Path.Combine(dir, $"{ManifestFileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, useAsync: true))
            {
                await JsonSerializer.SerializeAsync(stream, manifest, ManifestJson.Options, CancellationToken.None);
                await stream.FlushAsync(CancellationToken.None);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, Path.Combine(dir, ManifestFileName), overwrite: false);
            return manifest;
        }
        catch (IOException) when (File.Exists(Path.Combine(dir, ManifestFileName)))
        {
            // Another committer won (create-only): same fingerprint ⇒ same result; keep theirs.
            return (await GetManifestAsync(staging.Fingerprint, false, ct)).Manifest
                   ?? throw new IOException($"artifact {staging.Fingerprint} was committed concurrently but its manifest is broken");
        }
        finally { TryDeleteFile(temp); }
    }

    /// <summary>An exclusive OS lock (flock, released if the process dies) on committing into <paramref name="dir"/>.</summary>
    private async Task<FileStream> CommitGateAsync(string dir, CancellationToken ct)
    {
        var path = Path.Combine(dir, ".commit.lock");
        for (var delay = 5; ; delay = Math.Min(delay * 2, 200))
        {
            if (OpenLock(path) is { } gate) return gate;
            await Task.Delay(delay, ct);
        }
    }

    /// <summary>Throws away a staging folder (a failed or interrupted node).</summary>
    public Task AbortStagingAsync(StagingArea staging, CancellationToken ct = default)
    {
        TryDeleteDirectory(staging.Directory);
        return Task.CompletedTask;
    }

    /// <summary>The committed file itself, once its bytes are checked against the manifest (hashed on the first read in
    /// this process, see <see cref="FileVerifier"/>).</summary>
    public async Task<string> GetLocalPathAsync(Manifest manifest, string fileName, CancellationToken ct = default)
    {
        var file = manifest.File(fileName);
        var path = FilePath(ArtifactDirectory(manifest.Fingerprint), file.Name);
        if (await CheckPathAsync(path, file, verifyHash: true, ct) is { } problem)
            throw new ArtifactCorruptException($"artifact {manifest.Fingerprint[..12]} ({manifest.Info.NodeId}): file '{fileName}' {problem} ({path})");
        return path;
    }

    public Task<string> GetScratchDirectoryAsync(string fingerprint, CancellationToken ct = default)
    {
        var dir = Path.Combine(ScratchDir, CheckFingerprint(fingerprint));
        Directory.CreateDirectory(dir);
        return Task.FromResult(dir);
    }

    public Task DeleteScratchAsync(string fingerprint, CancellationToken ct = default)
    {
        TryDeleteDirectory(Path.Combine(ScratchDir, CheckFingerprint(fingerprint)));
        return Task.CompletedTask;
    }

    /// <summary>Fingerprints that have a scratch folder (unfinished or interrupted nodes).</summary>
    public IEnumerable<string> ListScratch() =>
        Directory.EnumerateDirectories(ScratchDir).Select(Path.GetFileName).OfType<string>();

    public async Task<IAsyncDisposable> ClaimAsync(string fingerprint, CancellationToken ct = default)
    {
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            if (TryClaim(fingerprint) is { } claim) return claim;
            await Task.Delay(delay, ct);
            delay = TimeSpan.FromTicks(Math.Min(MaxPoll.Ticks, delay.Ticks * 2));
        }
    }

    public async Task<bool> IsClaimedAsync(string fingerprint, CancellationToken ct = default)
    {
        if (TryClaim(fingerprint) is not { } claim) return true;
        await claim.DisposeAsync();
        return false;
    }

    /// <summary>
    /// The claim on <paramref name="name"/> if nobody holds it now, else null (does not wait). Any other failure to take
    /// the lock (a read-only or full file system, a lock path that is not a file) throws at once, naming the store:
    /// waiting for it could never end.
    /// </summary>
    public IAsyncDisposable? TryClaim(string name)
    {
        if (OpenLock(LockPath(name)) is not { } lockFile) return null;
        WriteHolder(lockFile);
        return new Claim(lockFile);
    }

    public Task<ClaimHolder?> GetClaimHolderAsync(string fingerprint, CancellationToken ct = default) => Task.FromResult(ReadHolder(LockPath(fingerprint)));

    private string LockPath(string name) => Path.Combine(LocksDir, CheckFingerprint(name) + ".lock");

    /// <summary>
    /// Opens <paramref name="path"/> locked exclusively, or returns null while another holder has it. FileShare.None takes
    /// an exclusive flock on Unix, which the kernel releases when its holder dies: a local lock never outlives its
    /// process, so waiting for one needs no timeout.
    /// </summary>
    private FileStream? OpenLock(string path)
    {
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None); }
        catch (IOException e) when (IsHeldElsewhere(e)) { return null; }
        catch (IOException e) { throw new StoreAccessException($"artifact store {Root} cannot be locked: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new UnauthorizedAccessException($"artifact store {Root} cannot be locked: {e.Message}", e); }
    }

    // What .NET reports for a lock that is held: errno EWOULDBLOCK as the HResult on Unix (11 on Linux, 35 on macOS and
    // the BSDs), a sharing or lock violation on Windows. Every other error is the file system refusing the lock.
    private static readonly int[] LockHeld = OperatingSystem.IsWindows() ? [unchecked((int)0x80070020), unchecked((int)0x80070021)]
        : OperatingSystem.IsLinux() ? [11] : [35];

    private static bool IsHeldElsewhere(IOException e) => e.GetType() == typeof(IOException) && LockHeld.Contains(e.HResult);

    /// <summary>Records this process as the holder, for waiters' messages; best effort (the lock is what counts).</summary>
    private static void WriteHolder(FileStream lockFile)
    {
        try
        {
            lockFile.SetLength(0);
            lockFile.Write(JsonSerializer.SerializeToUtf8Bytes(new ClaimHolder(Environment.ProcessId, Environment.MachineName, DateTimeOffset.UtcNow)));
            lockFile.Flush();
        }
        catch (IOException) { }
    }

    /// <summary>What the holder of the lock at <paramref name="path"/> recorded; null when free, unrecorded or unreadable.</summary>
    private static ClaimHolder? ReadHolder(string path)
    {
        // .NET opens every file it reads under a shared flock, which the holder's exclusive one refuses, so the file is
        // read through open(2) itself. On Windows FileShare.None refuses every other open: no holder is known there.
        if (OperatingSystem.IsWindows()) return null;
        var fd = Open(path, 0); // O_RDONLY
        if (fd < 0) return null;
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var buffer = new byte[1024];
            var length = RandomAccess.Read(handle, buffer, 0);
            // Empty (free, or the holder is between truncating and writing) or partial content reads as unknown.
            return JsonSerializer.Deserialize<ClaimHolder>(buffer.AsSpan(0, length)) is { ProcessId: > 0, Host: not null } holder ? holder : null;
        }
        catch (Exception e) when (e is IOException or JsonException or NotSupportedException or UnauthorizedAccessException) { return null; }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open(string path, int flags);

    private sealed class Claim(FileStream lockFile) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            // Cleared while still held, so a waiter that reads it later never names a holder that has left.
            if (lockFile.CanWrite) { try { lockFile.SetLength(0); } catch (IOException) { } }
            return lockFile.DisposeAsync();
        }
    }

    public async IAsyncEnumerable<string> ListArtifactsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        foreach (var dir in Directory.EnumerateDirectories(ArtifactsDir))
        {
            ct.ThrowIfCancellationRequested();
            if (File.Exists(Path.Combine(dir, ManifestFileName))) yield return Path.GetFileName(dir);
        }
        await Task.CompletedTask;
    }

    public Task DeleteArtifactAsync(string fingerprint, CancellationToken ct = default)
    {
        var dir = ArtifactDirectory(fingerprint);
        TryDeleteFile(Path.Combine(dir, ManifestFileName));
        TryDeleteDirectory(dir);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Removes what crashed processes left behind: staging folders and manifest-less artifact folders whose
    /// fingerprint nobody has claimed now, and (when <paramref name="keepScratch"/> is given) unclaimed scratch folders
    /// of fingerprints not in it. Returns how many folders it removed.
    /// </summary>
    public async Task<int> CleanLeftoversAsync(IReadOnlySet<string>? keepScratch = null, CancellationToken ct = default)
    {
        var removed = 0;
        var scratch = keepScratch is null ? [] : Directory.EnumerateDirectories(ScratchDir).Where(d => !keepScratch.Contains(Path.GetFileName(d))).Select(d => (Dir: d, Fp: Path.GetFileName(d)));
        var candidates = scratch.Concat(Directory.EnumerateDirectories(StagingDir)
            .Select(d => (Dir: d, Fp: Path.GetFileName(d).Split('.')[0]))
            .Concat(Directory.EnumerateDirectories(ArtifactsDir)
                .Where(d => !File.Exists(Path.Combine(d, ManifestFileName)))
                .Select(d => (Dir: d, Fp: Path.GetFileName(d)))))
            .ToList();
        foreach (var (dir, fp) in candidates)
        {
            ct.ThrowIfCancellationRequested();
            if (TryClaim(fp) is not { } claim) continue;
            await using (claim)
            {
                if (dir.StartsWith(ArtifactsDir, StringComparison.Ordinal) && File.Exists(Path.Combine(dir, ManifestFileName))) continue;
                TryDeleteDirectory(dir);
                removed++;
            }
        }
        return removed;
    }

    public async Task PutDocumentAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var full = DocumentPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            await File.WriteAllBytesAsync(temp, content, ct);
            File.Move(temp, full, overwrite: true);
        }
        finally { TryDeleteFile(temp); }
    }

    public async Task<byte[]?> GetDocumentAsync(string path, CancellationToken ct = default)
    {
        try { return await File.ReadAllBytesAsync(DocumentPath(path), ct); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>Documents in the folder <paramref name="prefix"/> and below ("runs" and "runs/" list runs/…, never runs.json).</summary>
    public async IAsyncEnumerable<string> ListDocumentsAsync(string prefix, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var docs = DocsDir;
        var folder = prefix.Trim('/');
        var start = folder.Length > 0 ? DocumentPath(folder) : docs;
        if (!Directory.Exists(start)) yield break;
        foreach (var file in Directory.EnumerateFiles(start, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            if (file.EndsWith(".tmp", StringComparison.Ordinal)) continue;
            yield return Path.GetRelativePath(docs, file).Replace(Path.DirectorySeparatorChar, '/');
        }
        await Task.CompletedTask;
    }

    public Task DeleteDocumentAsync(string path, CancellationToken ct = default)
    {
        TryDeleteFile(DocumentPath(path));
        return Task.CompletedTask;
    }

    public string DescribeDocument(string path) => DocumentPath(path);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string DocumentPath(string path)
    {
        if (path.Length == 0 || path.StartsWith('/') || path.Split('/').Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"document path '{path}' must be relative, '/'-separated, without '.' or '..' parts");
        return Path.Combine(DocsDir, path.Replace('/', Path.DirectorySeparatorChar));
    }

    private static string FilePath(string artifactDir, string name) =>
        Path.Combine(artifactDir, "files", name.Replace('/', Path.DirectorySeparatorChar));

    private static string CheckFingerprint(string fingerprint)
    {
        if (fingerprint.Length == 0 || fingerprint.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
            throw new ArgumentException($"'{fingerprint}' is not a valid fingerprint (expected letters, digits, '-' or '_')");
        return fingerprint;
    }

    private static void TryDeleteDirectory(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    private static void TryDeleteFile(string path)
    {
        try { File.Delete(path); } catch (DirectoryNotFoundException) { }
    }
}

namespace Fusion.Worker.Documents;

/// <summary>Documents as files under one folder: atomic replace by rename, create-only through a <see cref="FileMode.CreateNew"/> marker.</summary>
public sealed class FileDocumentStore(string root) : IDocumentStore
{
    public string Root { get; } = Path.GetFullPath(root);

    public async Task<byte[]?> GetAsync(string path, CancellationToken ct = default)
    {
        var file = Resolve(path);
        try { return await File.ReadAllBytesAsync(file, ct); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    public async Task PutAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var file = Resolve(path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var temp = $"{file}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllBytesAsync(temp, content.ToArray(), ct);
        File.Move(temp, file, overwrite: true);
    }

    public async Task<bool> TryCreateAsync(string path, ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var file = Resolve(path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        // The race is decided by O_CREAT|O_EXCL on a marker (File.Move without overwrite is not atomic on every
        // filesystem); the winner then renames its complete content into place, so readers never see half a document.
        try { await using (new FileStream($"{file}.created", FileMode.CreateNew, FileAccess.Write)) { } }
        catch (IOException) when (File.Exists($"{file}.created")) { return false; }
        var temp = $"{file}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllBytesAsync(temp, content.ToArray(), ct);
        File.Move(temp, file, overwrite: true);
        return true;
    }

    public string Describe(string path) => Resolve(path);

    private string Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || path.StartsWith('/') || path.Split('/').Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"document path '{path}' must be relative, '/'-separated, without '.' or '..' parts", nameof(path));
        return Path.Combine(Root, path.Replace('/', Path.DirectorySeparatorChar));
    }
}

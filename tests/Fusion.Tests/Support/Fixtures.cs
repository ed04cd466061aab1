namespace Fusion.Tests.Support;

/// <summary>
/// Locates the golden fixtures: $FUSION_FIXTURES when set, else the copy the repository carries in tests/fixtures.
/// A test that reads a fixture fails, naming the path, when it is absent: a clone always has them, so a missing folder
/// is a broken checkout or a wrong $FUSION_FIXTURES, never a reason to skip.
/// </summary>
public static class Fixtures
{
    private static readonly Lazy<string> repoRoot = new(FindRepoRoot);
    /// <summary>The repository root, found on first use (not needed when $FUSION_FIXTURES points elsewhere).</summary>
    public static string RepoRoot => repoRoot.Value;

    public static string Root =>
        Environment.GetEnvironmentVariable("FUSION_FIXTURES") is { Length: > 0 } env
            ? System.IO.Path.GetFullPath(env)
            : System.IO.Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>
    /// Full path of a fixture file or folder, e.g. Path("uvit", "early-concat.io.safetensors"); throws naming the path
    /// when the fixture folder (the first part) is absent.
    /// </summary>
    public static string Path(string folder, params string[] parts)
    {
        var dir = System.IO.Path.Combine(Root, folder);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"fixture folder not found: {dir} (the repository's tests/fixtures, or $FUSION_FIXTURES)");
        return System.IO.Path.Combine([dir, .. parts]);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Fusion.Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Fusion.Pipeline.sln) not found above " + AppContext.BaseDirectory);
    }
}

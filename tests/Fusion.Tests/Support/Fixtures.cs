namespace Fusion.Tests.Support;

/// <summary>
/// Locates the golden fixtures: $FUSION_FIXTURES when set, else ../shared/fixtures beside the repository root.
/// Tests that need them use <see cref="FixtureFactAttribute"/>, which reports the test skipped (never passed) when
/// the folder is absent.
/// </summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root =>
        Environment.GetEnvironmentVariable("FUSION_FIXTURES") is { Length: > 0 } env
            ? System.IO.Path.GetFullPath(env)
            : System.IO.Path.GetFullPath(System.IO.Path.Combine(RepoRoot, "..", "shared", "fixtures"));

    /// <summary>Full path of a fixture file or folder, e.g. Path("uvit", "early-concat.io.safetensors").</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public static bool Exists(string folder) => Directory.Exists(Path(folder));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Fusion.Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Fusion.Pipeline.sln) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs one fixture folder; skipped (with the path it looked for) when that folder is absent.</summary>
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute(string folder)
    {
        if (!Fixtures.Exists(folder)) Skip = $"fixtures not found: {Fixtures.Path(folder)} (set FUSION_FIXTURES)";
    }
}

/// <summary>A theory that needs one fixture folder; skipped when that folder is absent.</summary>
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute(string folder)
    {
        if (!Fixtures.Exists(folder)) Skip = $"fixtures not found: {Fixtures.Path(folder)} (set FUSION_FIXTURES)";
    }
}

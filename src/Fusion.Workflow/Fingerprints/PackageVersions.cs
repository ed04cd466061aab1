using System.Text.Json;

namespace Fusion.Workflow.Fingerprints;

/// <summary>
/// The NuGet packages a process runs with: each id's resolved version and the ids it depends on. Read from the
/// application's dependency manifest (its <c>.deps.json</c>, which the build writes from the restored — locked — graph
/// and by which the .NET host loads each package's files): true for what runs, wherever the build was copied, where a
/// lock file beside the sources need not be.
/// </summary>
public sealed class PackageVersions
{
    public sealed record Package(string Version, IReadOnlyList<string> Dependencies);

    private static readonly Lazy<PackageVersions> Process = new(ReadHostManifests);

    public PackageVersions(IReadOnlyDictionary<string, Package> packages) => Packages = packages;

    /// <summary>Package id → version and dependencies.</summary>
    public IReadOnlyDictionary<string, Package> Packages { get; }

    /// <summary>The packages this process loads its dependencies from.</summary>
    public static PackageVersions OfThisProcess => Process.Value;

    /// <summary>The same table with <paramref name="id"/> at <paramref name="version"/> (what a package bump changes).</summary>
    public PackageVersions With(string id, string version)
    {
        if (!Packages.TryGetValue(id, out var package)) throw new ArgumentException($"no package '{id}' in this table", nameof(id));
        return new PackageVersions(new Dictionary<string, Package>(Packages, StringComparer.OrdinalIgnoreCase) { [id] = package with { Version = version } });
    }

    /// <summary>
    /// <paramref name="ids"/> and every package they depend on, directly or not, with their versions (ordinal by id).
    /// Throws for an id this process does not carry: a stage naming a package it cannot be computing with is a bug.
    /// </summary>
    public IReadOnlyList<(string Id, string Version)> Closure(IEnumerable<string> ids)
    {
        var seen = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>(ids);
        while (pending.TryPop(out var id))
        {
            if (!Packages.TryGetValue(id, out var package))
                throw new InvalidOperationException($"package '{id}' is not among the {Packages.Count} packages this build runs with (its .deps.json)");
            if (!seen.TryAdd(Key(id), package.Version)) continue;
            foreach (var dependency in package.Dependencies) if (Packages.ContainsKey(dependency)) pending.Push(dependency);
        }
        return [.. seen.Select(p => (p.Key, p.Value))];
    }

    // The id as the manifest spells it (NuGet ids are case-insensitive).
    private string Key(string id) => Packages.Keys.First(k => string.Equals(k, id, StringComparison.OrdinalIgnoreCase));

    /// <summary>The packages of one <c>.deps.json</c>: its "package" libraries and, from its target, their dependencies.</summary>
    public static PackageVersions Parse(string depsJson)
    {
        using var doc = JsonDocument.Parse(depsJson);
        var target = doc.RootElement.GetProperty("targets").EnumerateObject().FirstOrDefault().Value;
        var packages = new Dictionary<string, Package>(StringComparer.OrdinalIgnoreCase);
        foreach (var library in doc.RootElement.GetProperty("libraries").EnumerateObject())
        {
            if (library.Value.GetProperty("type").GetString() != "package") continue;
            var slash = library.Name.IndexOf('/');
            var dependencies = target.ValueKind == JsonValueKind.Object && target.TryGetProperty(library.Name, out var entry) && entry.TryGetProperty("dependencies", out var deps)
                ? deps.EnumerateObject().Select(d => d.Name).ToList()
                : [];
            packages[library.Name[..slash]] = new Package(library.Name[(slash + 1)..], dependencies);
        }
        return new PackageVersions(packages);
    }

    // The host lists the application's manifest first, then its frameworks' (the runtime, which is not a package).
    private static PackageVersions ReadHostManifests()
    {
        var app = (AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string)?.Split(';', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return app is not null && File.Exists(app) ? Parse(File.ReadAllText(app)) : new PackageVersions(new Dictionary<string, Package>());
    }
}

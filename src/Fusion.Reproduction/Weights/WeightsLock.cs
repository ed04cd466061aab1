using System.Text.Json;
using System.Text.Json.Serialization;
using Fusion.Reproduction.Coco;

namespace Fusion.Reproduction.Weights;

/// <summary>
/// The weights lock (<c>weights.lock.json</c> beside the pipelines): per pretrained file its source, the commit it is
/// fetched at, its size and SHA-256. Every run checks the files it uses against it; `fusion run` fills null fields
/// (see <see cref="WeightsPinner"/>) and the user commits the result, which pins the files for everyone. Only digests
/// measured on the files, or published by their source, are written here.
/// </summary>
public sealed class WeightsLock
{
    public const string FileName = "weights.lock.json";
    public const int CurrentVersion = 1;
    private const string About = "Pinned pretrained weights: every run checks the files it uses against these entries. "
        + "`fusion run` fills null fields (the commit 'main' names, the Hub's SHA-256, or one computed from the downloaded file); commit the result.";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
    };

    private sealed record Document(string? About, int Version, IReadOnlyList<LockedFile> Files);

    private WeightsLock(IReadOnlyList<LockedFile> files) => Files = files;

    public IReadOnlyList<LockedFile> Files { get; }

    /// <summary>The lock at <paramref name="path"/>; a missing file is an empty lock (nothing pinned yet).</summary>
    /// <exception cref="FormatException">The file is malformed; the message names it and the entry.</exception>
    public static WeightsLock Read(string path)
    {
        if (!File.Exists(path)) return new WeightsLock([]);
        Document? doc;
        try { doc = JsonSerializer.Deserialize<Document>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new FormatException($"{path} is not a valid weights lock: {e.Message}"); }
        if (doc is null || doc.Version != CurrentVersion) throw new FormatException($"{path}: expected \"version\": {CurrentVersion}");
        foreach (var f in doc.Files)
            if (f.Problem() is { } problem) throw new FormatException($"{path}: {f.Key}: {problem}");
        if (doc.Files.GroupBy(f => f.Key).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new FormatException($"{path}: {twice.Key} is listed twice");
        return new WeightsLock(doc.Files);
    }

    /// <summary>Writes the lock (entries sorted by component and file) atomically.</summary>
    public void Write(string path)
    {
        var text = JsonSerializer.Serialize(new Document(About, CurrentVersion, Files), Json) + "\n";
        var temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>This lock with <paramref name="entries"/> added or replacing those with the same component and file.</summary>
    public WeightsLock With(IEnumerable<LockedFile> entries)
    {
        var byKey = Files.ToDictionary(f => f.Key, StringComparer.Ordinal);
        foreach (var e in entries) byKey[e.Key] = e;
        return new WeightsLock(byKey.Values.OrderBy(f => f.Component, StringComparer.Ordinal).ThenBy(f => f.File, StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// The entries of <paramref name="component"/>'s files in catalogue order; a file the lock does not list yet gets
    /// an entry with nothing known but its source (and a published digest prefix).
    /// </summary>
    /// <exception cref="FormatException">An entry names another source than the code fetches, or the files disagree on the commit.</exception>
    public IReadOnlyList<LockedFile> EntriesFor(PretrainedComponent component)
    {
        var key = PretrainedComponents.Key(component);
        var entries = PretrainedComponents.Files(component).Select(f => Reconcile(key, f, Files.FirstOrDefault(e => e.Component == key && e.File == f.Name))).ToList();
        if (entries.Select(e => e.Revision).OfType<string>().Distinct().Count() > 1)
            throw new FormatException($"{FileName}: the files of {key} are pinned at different revisions ({string.Join(", ", entries.Select(e => $"{e.File} {e.Revision ?? "null"}"))}); pin them at one commit");
        return entries;
    }

    private static LockedFile Reconcile(string component, ComponentFile source, LockedFile? entry)
    {
        var fresh = new LockedFile
        {
            Component = component, File = source.Name, Repo = source.HubRepo, Url = source.Url?.ToString(), Sha256Prefix = source.Sha256Prefix,
        };
        if (entry is null) return fresh;
        string Stale(string what) =>
            $"{FileName}: {entry.Key} {what}; the entry is for another source than this code fetches: delete it, and the next run pins the new source";
        if (entry.Repo != source.HubRepo) throw new FormatException(Stale($"names repo {entry.Repo ?? "null"}, the code fetches {source.HubRepo ?? "a plain URL"}"));
        if (source.Url is not null && entry.Url != source.Url.ToString()) throw new FormatException(Stale($"names url {entry.Url ?? "null"}, the code fetches {source.Url}"));
        if (source.Sha256Prefix is not null && entry.Sha256Prefix != source.Sha256Prefix)
            throw new FormatException(Stale($"has sha256_prefix {entry.Sha256Prefix ?? "null"}, the publisher states {source.Sha256Prefix}"));
        return entry;
    }

    /// <summary>Entries as the compact JSON a <c>fetch-weights</c> node carries in its <c>lock</c> param.</summary>
    public static string ToParam(IReadOnlyList<LockedFile> entries) => JsonSerializer.Serialize(entries, ParamJson);

    /// <summary>The entries a <c>lock</c> param carries.</summary>
    public static IReadOnlyList<LockedFile> FromParam(string json) => JsonSerializer.Deserialize<List<LockedFile>>(json, ParamJson)!;

    private static readonly JsonSerializerOptions ParamJson = new(Json) { WriteIndented = false };
}

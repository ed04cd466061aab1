using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Workflow.Fingerprints;

/// <summary>
/// A node with its fingerprint: what the engine runs (in process, or shipped to a worker as JSON).
/// <see cref="Parts"/> are what the fingerprint hashes: "kind", "code", "param.NAME" (canonical JSON),
/// "input.NAME" (upstream fingerprints, comma-separated in order), "env.FACT", "package.ID" (the version of a package
/// the stage computes with, or one it depends on). <see cref="Recipe"/> and
/// <see cref="InputRecipes"/> are the recipe fingerprints of the node and its inputs (null where unknown).
/// </summary>
public sealed record PlannedNode(
    NodeDefinition Definition,
    string Fingerprint,
    IReadOnlyDictionary<string, string> Parts,
    /// <summary>Input name → upstream fingerprints (same order as Definition.Inputs).</summary>
    IReadOnlyDictionary<string, IReadOnlyList<string>> InputFingerprints,
    string? Recipe = null,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? InputRecipes = null)
{
    public string Id => Definition.Id;
    public string Short => Fingerprint[..12];
}

/// <summary>Computes fingerprints: SHA-256 over the canonical encoding of the sorted parts.</summary>
public static class Fingerprinter
{
    private const string Scheme = "fusion-fingerprint-v1";

    /// <summary>Fingerprints every node of <paramref name="pipeline"/> (upstream before downstream), with their recipes.</summary>
    public static IReadOnlyDictionary<string, PlannedNode> Compute(Pipeline pipeline, StageRegistry registry, EnvironmentFacts facts)
    {
        var result = new Dictionary<string, PlannedNode>(StringComparer.Ordinal);
        foreach (var node in pipeline.Nodes)
        {
            var kind = registry.Get(node.Kind);
            var inputs = node.Inputs.ToDictionary(i => i.Key, i => (IReadOnlyList<string>)i.Value.Select(up => result[up].Fingerprint).ToList(), StringComparer.Ordinal);
            var inputRecipes = node.Inputs.ToDictionary(i => i.Key, i => (IReadOnlyList<string>)i.Value.Select(up => result[up].Recipe!).ToList(), StringComparer.Ordinal);
            var parts = Parts(kind, node.Params, inputs, facts);
            result[node.Id] = new PlannedNode(node, Hash(parts), parts, inputs, Recipe(node, parts, inputRecipes), inputRecipes);
        }
        return result;
    }

    /// <summary>The environment facts a recipe keeps: what is computed on (cpu or cuda) and in which dtype.</summary>
    public static readonly IReadOnlySet<string> RecipeFacts = new HashSet<string>(StringComparer.Ordinal) { EnvironmentFacts.DeviceKey, EnvironmentFacts.DtypeKey };

    /// <summary>
    /// A node's recipe: its fingerprint without the training seed (the <c>seed</c> param of a stage that declares
    /// seeds) and without the machine (CPU kind, thread count, library builds and package versions; the device type
    /// and dtype stay), over
    /// its inputs' recipes. Every seed of one variant shares it, on any machine of a kind, so a seed-to-seed spread
    /// measured for a recipe applies to a run of the same recipe elsewhere.
    /// </summary>
    public static string Recipe(NodeDefinition node, IReadOnlyDictionary<string, string> parts, IReadOnlyDictionary<string, IReadOnlyList<string>> inputRecipes)
    {
        var recipe = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["recipe"] = "1" };
        foreach (var (k, v) in parts)
        {
            if (k.StartsWith("input.", StringComparison.Ordinal) || k.StartsWith("package.", StringComparison.Ordinal)) continue;
            if (k.StartsWith("env.", StringComparison.Ordinal) && !RecipeFacts.Contains(k[4..])) continue;
            if (node.Seeded && k == "param." + SeedAxis.Param) continue;
            recipe[k] = v;
        }
        foreach (var (k, v) in inputRecipes) recipe["input." + k] = string.Join(",", v);
        return Hash(recipe);
    }

    public static SortedDictionary<string, string> Parts(IStageKind kind, IReadOnlyDictionary<string, string> canonicalParams,
        IReadOnlyDictionary<string, IReadOnlyList<string>> inputFingerprints, EnvironmentFacts facts)
    {
        var parts = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["kind"] = kind.Name, ["code"] = kind.CodeVersion };
        foreach (var (k, v) in canonicalParams) parts["param." + k] = v;
        foreach (var (k, v) in inputFingerprints) parts["input." + k] = string.Join(",", v);
        var deps = kind.EnvironmentDependencies;
        foreach (var (k, v) in facts.Values)
            if (deps is null || deps.Contains(k)) parts["env." + k] = v;
        foreach (var (id, version) in facts.Packages.Closure(kind.Packages)) parts["package." + id] = version;
        // A node that declares its threads computes with that many on any machine.
        if (NodeThreads.Declared(canonicalParams) is { } threads && parts.ContainsKey("env." + EnvironmentFacts.ThreadsKey))
            parts["env." + EnvironmentFacts.ThreadsKey] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return parts;
    }

    /// <summary>SHA-256 (lower-case hex) of the parts as a JSON array of [key, value] pairs in ordinal key order.</summary>
    public static string Hash(IReadOnlyDictionary<string, string> parts)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            w.WriteStringValue(Scheme);
            foreach (var (k, v) in parts.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WriteStartArray();
                w.WriteStringValue(k);
                w.WriteStringValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
    }

    /// <summary>
    /// Why <paramref name="current"/> differs from <paramref name="previous"/>, in words: "param steps: 10 → 20",
    /// "code version 1 → 2", "upstream train[x] changed (input model)", "environment device: cpu → cuda".
    /// </summary>
    public static IReadOnlyList<string> Explain(IReadOnlyDictionary<string, string> previous, PlannedNode current)
    {
        var reasons = new List<string>();
        foreach (var key in previous.Keys.Union(current.Parts.Keys).Order(StringComparer.Ordinal))
        {
            var had = previous.TryGetValue(key, out var before);
            var has = current.Parts.TryGetValue(key, out var after);
            if (had && has && before == after) continue;
            var dot = key.IndexOf('.');
            var (group, name) = dot < 0 ? (key, "") : (key[..dot], key[(dot + 1)..]);
            reasons.Add(group switch
            {
                "kind" => $"kind {before} → {after}",
                "code" => $"code version {before ?? "none"} → {after ?? "none"}",
                "param" when !had => $"param {name} is new (= {Show(after)})",
                "param" when !has => $"param {name} was removed (was {Show(before)})",
                "param" => $"param {name}: {Show(before)} → {Show(after)}",
                "input" when current.Definition.Inputs.TryGetValue(name, out var ups) =>
                    $"upstream {string.Join(", ", ChangedUpstream(ups, before, after))} changed (input {name})",
                "input" => $"input {name} was removed",
                "env" when !had || !has => $"environment {name}: {before ?? "not recorded"} → {after ?? "not recorded"}",
                "env" => $"environment {name}: {before} → {after}",
                "package" => $"package {name}: {before ?? "not used"} → {after ?? "not used"}",
                _ => $"{key}: {before} → {after}",
            });
        }
        return reasons;
    }

    /// <summary>A param value as `plan` shows it: a long one (a file param's text) by its length and digest.</summary>
    private static string? Show(string? value) =>
        value is { Length: > 120 } ? $"<{value.Length} characters, sha256 {Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..12]}>" : value;

    private static IEnumerable<string> ChangedUpstream(IReadOnlyList<string> nodeIds, string? before, string? after)
    {
        var old = before?.Split(',') ?? [];
        var now = after?.Split(',') ?? [];
        if (old.Length != now.Length) return nodeIds;
        return nodeIds.Where((_, i) => old[i] != now[i]);
    }
}

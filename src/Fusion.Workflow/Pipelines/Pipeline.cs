namespace Fusion.Workflow.Pipelines;

/// <summary>A place in a pipeline file (1-based line and column), or on the command line.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public static readonly SourceLocation CommandLine = new("command line", 0, 0);
    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}" : File;
}

/// <summary>A configuration error: says where (file:line:column) and which key.</summary>
public sealed class PipelineException(string message, SourceLocation? location = null, string? key = null)
    : Exception((location is null ? "" : location + ": ") + (key is null ? "" : key + ": ") + message)
{
    public SourceLocation? Location => location;
    public string? Key => key;
    public string Reason => message;
}

/// <summary>
/// One node of the expanded pipeline: a stage, or one variant of a stage, with its params fully resolved
/// (defaults, stage params, variant params, profile, command-line overrides) and its inputs bound to upstream node ids.
/// Serializable, so a distributed executor can ship it to a worker. <see cref="Seeded"/>: its stage declares seeds, so
/// its <c>seed</c> param is the training seed (left out of the node's recipe, see <c>Fingerprinter.Recipe</c>).
/// </summary>
public sealed record NodeDefinition(
    string Id,
    string Stage,
    string? Variant,
    string Kind,
    /// <summary>Param name → canonical JSON value, sorted by name.</summary>
    IReadOnlyDictionary<string, string> Params,
    /// <summary>Declared input name → upstream node ids.</summary>
    IReadOnlyDictionary<string, IReadOnlyList<string>> Inputs,
    SourceLocation Location,
    bool Seeded = false)
{
    public IEnumerable<string> Upstream => Inputs.Values.SelectMany(v => v).Distinct();

    public static string IdOf(string stage, string? variant) => variant is null ? stage : $"{stage}[{variant}]";

    /// <summary>"train[early-concat]" → "early-concat"; a node without a variant is its own name.</summary>
    public static string VariantOf(string nodeId)
    {
        var open = nodeId.IndexOf('[');
        return open >= 0 && nodeId.EndsWith(']') ? nodeId[(open + 1)..^1] : nodeId;
    }
}

/// <summary>An expanded pipeline: its nodes in a topological order (upstream first, otherwise file order).</summary>
public sealed record Pipeline(string Name, string File, IReadOnlyList<NodeDefinition> Nodes, IReadOnlyList<string> Profiles, string? Profile)
{
    private readonly Dictionary<string, NodeDefinition> byId = Nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);

    public NodeDefinition Node(string id) =>
        byId.TryGetValue(id, out var n) ? n : throw new PipelineException($"no node '{id}' in pipeline {Name} (nodes: {string.Join(", ", Nodes.Select(x => x.Id))})");

    public bool Contains(string id) => byId.ContainsKey(id);

    /// <summary>
    /// Node ids named by <paramref name="selector"/>: a node id (train[early-concat]) or a stage name (all its variants).
    /// </summary>
    public IReadOnlyList<string> Resolve(string selector)
    {
        if (byId.ContainsKey(selector)) return [selector];
        var ofStage = Nodes.Where(n => n.Stage == selector).Select(n => n.Id).ToList();
        return ofStage.Count > 0 ? ofStage
            : throw new PipelineException($"no node or stage '{selector}' in pipeline {Name} (nodes: {string.Join(", ", Nodes.Select(x => x.Id))})");
    }

    /// <summary><paramref name="ids"/> and everything upstream of them, in pipeline order.</summary>
    public IReadOnlySet<string> WithAncestors(IEnumerable<string> ids)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(ids);
        while (stack.TryPop(out var id))
            if (seen.Add(id)) foreach (var up in byId[id].Upstream) stack.Push(up);
        return seen;
    }
}

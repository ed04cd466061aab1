using Fusion.Workflow.Stages;
using YamlDotNet.RepresentationModel;
using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>One stage as its file declares it: kind, params, variants, seeds and input references; the passes after
/// the parse expand its variant names (seeds, borrowed variants).</summary>
internal sealed class StageSpec(string name, IStageKind kind, YamlMappingNode body, YamlNode keyNode)
{
    public string Name => name;
    public IStageKind Kind => kind;
    public YamlMappingNode Body => body;
    public YamlNode KeyNode => keyNode;
    public List<Override> Params { get; } = [];
    public List<Override> VariantParams { get; } = [];
    public List<string> Variants { get; } = [];
    /// <summary>Declared seeds (null: none, the kind's seed param is free).</summary>
    public List<long>? Seeds { get; set; }
    /// <summary>Expanded variant name → the declared variant it came from (only names the seed axis made).</summary>
    public Dictionary<string, string> DeclaredOf { get; } = new(StringComparer.Ordinal);
    public (StageSpec Source, YamlNode At)? VariantsFrom { get; set; }
    public List<(StageInput Input, List<YamlScalarNode> Refs, YamlNode Key)> Inputs { get; } = [];

    /// <summary>One node per declared variant and seed (with two or more seeds; one seed keeps the names).</summary>
    public void ExpandSeeds()
    {
        if (Seeds is not { Count: > 1 } seeds) return;
        var declared = Variants.Count == 0 ? [null] : Variants.Cast<string?>().ToList();
        Variants.Clear();
        foreach (var v in declared)
            foreach (var seed in seeds)
            {
                var name = SeedAxis.Name(v, seed);
                Variants.Add(name);
                if (v is not null) DeclaredOf[name] = v;
            }
    }

    /// <summary>The variants a reference or setting names: the variant itself, or all seeds of a declared variant.</summary>
    public IEnumerable<string> Matches(string name) =>
        Variants.Where(v => v == name || DeclaredOf.GetValueOrDefault(v) == name);

    /// <summary>A seed list (<c>seeds: [1, 2, 3]</c>) for this stage, or an error saying what is wrong with it.</summary>
    public List<long> ReadSeeds(YamlNode node, Func<string, PipelineException> error)
    {
        if (!Kind.Params.ByName.ContainsKey(SeedAxis.Param))
            throw error($"seeds set the param '{SeedAxis.Param}', which kind '{Kind.Name}' does not have");
        if (node is not YamlSequenceNode { Children.Count: > 0 } list) throw error("seeds is a non-empty list of integers, e.g. [1, 2, 3]");
        var seeds = new List<long>();
        foreach (var item in list.Children)
        {
            if (item is not YamlScalarNode sc || !long.TryParse(sc.Value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var seed))
                throw error($"seed '{Text(item)}' is not an integer");
            if (seeds.Contains(seed)) throw error($"seed {seed} is listed twice");
            seeds.Add(seed);
        }
        return seeds;
    }
}

using YamlDotNet.RepresentationModel;
using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>The pass that binds every node's inputs to upstream node ids, giving the node definitions.</summary>
internal static class InputBinding
{
    public static List<NodeDefinition> Bind(StagesFile file, Dictionary<string, BoundNode> nodes)
    {
        var definitions = new List<NodeDefinition>();
        foreach (var (id, (s, variant, parameters)) in nodes)
        {
            var inputs = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var (input, refs, keyNode) in s.Inputs)
            {
                var ikey = $"stages.{s.Name}.inputs.{input.Name}";
                var ids = refs.SelectMany(r => Resolve(r, s, variant, file, ikey)).ToList();
                if (!input.Many && ids.Count != 1)
                    throw file.Source.Error(keyNode, ikey, $"input '{input.Name}' of kind '{s.Kind.Name}' takes one node, the reference gives {ids.Count} ({string.Join(", ", ids)})");
                inputs[input.Name] = ids;
            }
            definitions.Add(new NodeDefinition(id, s.Name, variant, s.Kind.Name, parameters, inputs, file.Source.At(s.KeyNode), Seeded: s.Seeds is not null));
        }
        return definitions;
    }

    /// <summary>The node ids a reference names: stage, stage[variant] (all its seeds), stage[*], or the consumer's own variant.</summary>
    private static IEnumerable<string> Resolve(YamlScalarNode r, StageSpec consumer, string? consumerVariant, StagesFile file, string key)
    {
        var m = Reference().Match(r.Value ?? "");
        if (!m.Success) throw file.Source.Error(r, key, $"'{r.Value}' is not a stage reference (stage, stage[variant] or stage[*])");
        var name = m.Groups["stage"].Value;
        if (!file.ByName.TryGetValue(name, out var up)) throw file.Source.Error(r, key, $"no stage '{name}' (stages: {Names(file.ByName.Keys)})");
        if (up == consumer) throw file.Source.Error(r, key, $"stage '{name}' cannot take its own output (cycle: {name} → {name})");
        if (m.Groups["variant"].Success)
        {
            var v = m.Groups["variant"].Value;
            if (up.Variants.Count == 0) throw file.Source.Error(r, key, $"stage '{name}' has no variants; write '{name}'");
            if (v == "*") return up.Variants.Select(x => NodeDefinition.IdOf(name, x));
            var matching = up.Matches(v).ToList();
            return matching.Count > 0 ? matching.Select(x => NodeDefinition.IdOf(name, x)) : throw file.Source.Error(r, key, $"stage '{name}' has no variant '{v}' (variants: {Names(up.Variants)})");
        }
        if (up.Variants.Count == 0) return [name];
        if (consumerVariant is not null && up.Variants.Contains(consumerVariant)) return [NodeDefinition.IdOf(name, consumerVariant)];
        throw file.Source.Error(r, key, consumerVariant is null
            ? $"stage '{name}' has variants ({Names(up.Variants)}); write {name}[VARIANT], {name}[*], or give '{consumer.Name}' the same variants ('variants: {name}')"
            : $"stage '{name}' has no variant '{consumerVariant}' matching {consumer.Name}[{consumerVariant}]; write {name}[VARIANT] or {name}[*]");
    }
}

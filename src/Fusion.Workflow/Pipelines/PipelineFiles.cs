using Fusion.Workflow.Stages;
using YamlDotNet.RepresentationModel;
using static Fusion.Workflow.Pipelines.PipelineSyntax;

namespace Fusion.Workflow.Pipelines;

/// <summary>A file with stages, parsed into typed stages and profiles; nothing is expanded or bound yet.</summary>
internal sealed record StagesFile(SourceFile Source, List<StageSpec> Stages, Dictionary<string, List<Override>> Profiles)
{
    public Dictionary<string, StageSpec> ByName { get; } = Stages.ToDictionary(s => s.Name, StringComparer.Ordinal);

    public static StagesFile Read(YamlNode root, SourceFile source, StageRegistry registry)
    {
        if (root is not YamlMappingNode top) throw source.Error(root, "(root)", "a pipeline file is a mapping with 'stages' (and optionally 'profiles', 'description'), or one that 'extends' another");
        CheckKeys(top, "", ["stages", "profiles", "description"], source);
        if (Child(top, "stages") is not YamlMappingNode stagesNode || stagesNode.Children.Count == 0)
            throw source.Error(top, "stages", "missing or empty 'stages' mapping");
        // Every stage's name and kind first: a stage may borrow the variants of one declared after it.
        var stages = stagesNode.Children.Select(kv => ReadStage(kv.Key, kv.Value, source, registry)).ToList();
        var byName = stages.ToDictionary(s => s.Name, StringComparer.Ordinal);
        foreach (var s in stages) ReadBody(s, byName, source);
        return new StagesFile(source, stages, ReadProfiles(top, source));
    }

    /// <summary><c>profiles:</c> of <paramref name="top"/>: profile name → its settings.</summary>
    public static Dictionary<string, List<Override>> ReadProfiles(YamlMappingNode top, SourceFile source)
    {
        var profiles = new Dictionary<string, List<Override>>(StringComparer.Ordinal);
        if (Child(top, "profiles") is not { } profilesNode) return profiles;
        if (profilesNode is not YamlMappingNode pm) throw source.Error(profilesNode, "profiles", "profiles is a mapping of profile name → {stage.param: value}");
        foreach (var (k, v) in pm.Children)
        {
            var pname = Text(k);
            if (v is not YamlMappingNode settings) throw source.Error(v, $"profiles.{pname}", "a profile is a mapping of stage.param → value");
            profiles[pname] = settings.Children.Select(kv => new Override(Text(kv.Key), kv.Value, source.At(kv.Key))).ToList();
        }
        return profiles;
    }

    private static StageSpec ReadStage(YamlNode keyNode, YamlNode valueNode, SourceFile source, StageRegistry registry)
    {
        var name = Text(keyNode);
        var key = $"stages.{name}";
        if (!StageName().IsMatch(name)) throw source.Error(keyNode, key, "stage names use letters, digits, '-' and '_'");
        if (valueNode is not YamlMappingNode body) throw source.Error(valueNode, key, "a stage is a mapping with 'kind' (and 'params', 'inputs', 'variants', 'description')");
        CheckKeys(body, key + ".", ["kind", "params", "inputs", "variants", SeedAxis.Key, "description"], source);
        if (Child(body, "kind") is not YamlScalarNode kindNode || string.IsNullOrEmpty(kindNode.Value))
            throw source.Error(body, key + ".kind", "missing 'kind'");
        if (!registry.TryGet(kindNode.Value!, out var kind))
            throw source.Error(kindNode, key + ".kind", $"unknown stage kind '{kindNode.Value}' (known: {string.Join(", ", registry.Kinds.Select(k => k.Name).Order())})");
        return new StageSpec(name, kind, body, keyNode);
    }

    private static void ReadBody(StageSpec s, Dictionary<string, StageSpec> byName, SourceFile source)
    {
        var key = $"stages.{s.Name}";
        if (Child(s.Body, "params") is { } paramsNode)
        {
            if (paramsNode is not YamlMappingNode pm) throw source.Error(paramsNode, key + ".params", "params is a mapping of param → value");
            foreach (var (k, v) in pm.Children) s.Params.Add(new Override($"{s.Name}.{Text(k)}", v, source.At(k)));
        }
        if (Child(s.Body, "variants") is { } variantsNode) ReadVariants(s, variantsNode, byName, source);
        if (Child(s.Body, SeedAxis.Key) is { } seedsNode)
            s.Seeds = s.ReadSeeds(seedsNode, message => source.Error(seedsNode, $"{key}.{SeedAxis.Key}", message));
        if (Child(s.Body, "inputs") is { } inputsNode) ReadInputs(s, inputsNode, source);
        foreach (var missing in s.Kind.Inputs.Where(i => !i.Optional && s.Inputs.All(x => x.Input.Name != i.Name)))
            throw source.Error(s.Body, $"{key}.inputs.{missing.Name}", $"missing input '{missing.Name}' required by kind '{s.Kind.Name}'");
    }

    /// <summary><c>variants:</c> a mapping name → params, a list of names (each sets the param <c>variant</c>), or another stage's name.</summary>
    private static void ReadVariants(StageSpec s, YamlNode variantsNode, Dictionary<string, StageSpec> byName, SourceFile source)
    {
        var vkey = $"stages.{s.Name}.variants";
        switch (variantsNode)
        {
            case YamlMappingNode vm:
                foreach (var (k, v) in vm.Children)
                {
                    var vname = CheckVariant(k, vkey, source);
                    s.Variants.Add(vname);
                    if (v is YamlMappingNode vp)
                        foreach (var (pk, pv) in vp.Children) s.VariantParams.Add(new Override($"{s.Name}[{vname}].{Text(pk)}", pv, source.At(pk)));
                    else if (!(v is YamlScalarNode { Value: null or "" or "~" or "null" }))
                        throw source.Error(v, $"{vkey}.{vname}", "a variant is a mapping of param → value (or empty)");
                }
                break;
            case YamlSequenceNode vs:
                if (!s.Kind.Params.ByName.ContainsKey("variant"))
                    throw source.Error(vs, vkey, $"a variant list sets the param 'variant', which kind '{s.Kind.Name}' does not have; write variants as a mapping name → params");
                foreach (var v in vs.Children)
                {
                    var vname = CheckVariant(v, vkey, source);
                    s.Variants.Add(vname);
                    s.VariantParams.Add(new Override($"{s.Name}[{vname}].variant", new YamlScalarNode(vname), source.At(v)));
                }
                break;
            case YamlScalarNode { Value: { Length: > 0 } other }:
                if (!byName.TryGetValue(other, out var from)) throw source.Error(variantsNode, vkey, $"'{other}' is not a stage of this pipeline");
                s.VariantsFrom = (from, variantsNode);
                break;
            default:
                throw source.Error(variantsNode, vkey, "variants is a mapping name → params, a list of names, or the name of another stage");
        }
        if (s.Variants.Count != s.Variants.Distinct().Count()) throw source.Error(variantsNode, vkey, "duplicate variant name");
    }

    private static void ReadInputs(StageSpec s, YamlNode inputsNode, SourceFile source)
    {
        var key = $"stages.{s.Name}";
        if (inputsNode is not YamlMappingNode im) throw source.Error(inputsNode, key + ".inputs", "inputs is a mapping of input name → stage reference");
        foreach (var (k, v) in im.Children)
        {
            var iname = Text(k);
            var ikey = $"{key}.inputs.{iname}";
            var declared = s.Kind.Inputs.FirstOrDefault(i => i.Name == iname)
                ?? throw source.Error(k, ikey, $"kind '{s.Kind.Name}' has no input '{iname}' (inputs: {Names(s.Kind.Inputs.Select(i => i.Name))})");
            var refs = v switch
            {
                YamlScalarNode sc when !string.IsNullOrEmpty(sc.Value) => [sc],
                YamlSequenceNode seq => seq.Children.Select(c => c as YamlScalarNode ?? throw source.Error(c, ikey, "expected a stage reference")).ToList(),
                _ => throw source.Error(v, ikey, "expected a stage reference (stage, stage[variant] or stage[*]) or a list of them"),
            };
            s.Inputs.Add((declared, refs, k));
        }
    }

    private static string CheckVariant(YamlNode node, string key, SourceFile source)
    {
        var name = Text(node);
        return VariantName().IsMatch(name) && name != "*" ? name : throw source.Error(node, $"{key}.{name}", "variant names use letters, digits, '-', '_' and '.'");
    }
}

/// <summary>A file that extends another (changing params only): the base file, this file's params and profiles.</summary>
internal sealed record ExtensionFile(string BasePath, YamlNode BaseRoot, List<Override> Settings, Dictionary<string, List<Override>> Profiles)
{
    public static ExtensionFile Read(YamlMappingNode top, SourceFile source)
    {
        CheckKeys(top, "", ["extends", "params", "profiles", "description"], source);
        if (Child(top, "extends") is not YamlScalarNode { Value: { Length: > 0 } baseName } extendsNode)
            throw source.Error(top, "extends", "extends names the pipeline file this one builds on (a path relative to this file)");
        var basePath = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(source.Path)) ?? ".", baseName));
        if (!File.Exists(basePath)) throw source.Error(extendsNode, "extends", $"pipeline file '{baseName}' does not exist ({basePath})");
        var baseRoot = ReadYaml(File.ReadAllText(basePath), basePath);
        if (baseRoot is YamlMappingNode b && Child(b, "extends") is { } chained)
            throw source.Error(extendsNode, "extends", $"'{baseName}' itself extends '{Text(chained)}'; extend a file with stages");

        var settings = new List<Override>();
        if (Child(top, "params") is { } paramsNode)
        {
            if (paramsNode is not YamlMappingNode pm) throw source.Error(paramsNode, "params", "params is a mapping of stage.param → value");
            settings.AddRange(pm.Children.Select(kv => new Override(Text(kv.Key), kv.Value, source.At(kv.Key))));
        }
        return new ExtensionFile(basePath, baseRoot, settings, StagesFile.ReadProfiles(top, source));
    }
}

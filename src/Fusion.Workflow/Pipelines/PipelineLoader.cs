using System.Text.RegularExpressions;
using Fusion.Workflow.Stages;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Fusion.Workflow.Pipelines;

/// <summary>
/// Reads a pipeline file. Format (every key is checked; errors name file:line:column and the key):
/// <code>
/// description: optional text
/// stages:
///   data:                               # stage name → one node "data"
///     kind: make-data                   # a registered stage kind
///     params: {count: 100}              # typed by the kind's params class
///   train:
///     kind: train
///     inputs: {data: data}              # declared input → upstream stage
///     params: {steps: 1000}
///     variants:                         # one node per variant: train[early-concat], train[early-cross]
///       early-concat: {fusion: early, text: concat}    # variant name → params of that variant
///       early-cross: {fusion: early, text: cross}
///     seeds: [1, 2, 3]                  # one node per variant and seed, train[early-cross/seed=2], its param seed = 2
///   sample:
///     kind: sample
///     variants: train                   # same variant names as stage train (no extra params)
///     inputs: {model: train}            # a variant stage's input follows the matching variant: sample[x] ← train[x]
///   report:
///     kind: aggregate
///     inputs:
///       metrics: sample[*]              # all variants (a Many input); sample[early-cross] picks one
/// profiles:                             # selected with --profile
///   tiny: {train.steps: 10, "train[early-cross].steps": 20}
/// </code>
/// A file may instead extend another one, changing params only (a regression profile of a reproduction, say):
/// <code>
/// extends: shapes.yaml                  # path relative to this file; its stages and profiles
/// params: {train.steps: 2000}           # stage.param → value, over the base file's params
/// profiles: {quick: {train.steps: 50}}  # added to (or replacing by name) the base file's profiles
/// </code>
/// A variant list <c>variants: [a, b]</c> is short for <c>{a: {variant: a}, b: {variant: b}}</c> (the kind needs a
/// <c>variant</c> param). Seeds (see <see cref="SeedAxis"/>) need a kind with a <c>seed</c> param, which they then own;
/// <c>stage.seeds</c> may also be set by an extending file's params, a profile or <c>-p "train.seeds=[1,2]"</c>, and a
/// reference or setting naming a variant (<c>train[early-cross]</c>) covers all its seeds. Param precedence: defaults &lt; params &lt; variant params &lt; an extending file's params &lt;
/// profile &lt; <c>-p</c> overrides.
/// </summary>
public static partial class PipelineLoader
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]*$")] private static partial Regex StageName();
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")] private static partial Regex VariantName();
    [GeneratedRegex(@"^(?<stage>[A-Za-z0-9][A-Za-z0-9_-]*)(\[(?<variant>[^\]]+)\])?$")] private static partial Regex Reference();
    [GeneratedRegex(@"^(?<stage>[A-Za-z0-9][A-Za-z0-9_-]*)(\[(?<variant>[^\]]+)\])?\.(?<param>[A-Za-z0-9_]+)$")] private static partial Regex Setting();

    /// <summary>A <c>-p stage.param=value</c> override (or a profile entry); the value is YAML (e.g. 3, true, [1, 2]).</summary>
    public sealed record Override(string Key, YamlNode Value, SourceLocation Location);

    /// <param name="readFiles">
    /// false: file params keep the path they name instead of its text (for a command that computes what such a file
    /// will hold, and so must load before it exists).
    /// </param>
    public static Pipeline Load(string path, StageRegistry registry, string? profile = null, IEnumerable<string>? overrides = null, bool readFiles = true)
    {
        if (!File.Exists(path)) throw new PipelineException($"pipeline file does not exist: {Path.GetFullPath(path)}");
        return Parse(File.ReadAllText(path), path, registry, profile, overrides, readFiles);
    }

    public static Pipeline Parse(string yaml, string fileName, StageRegistry registry, string? profile = null, IEnumerable<string>? overrides = null, bool readFiles = true)
    {
        var root = ReadYaml(yaml, fileName);
        if (root is YamlMappingNode top && Child(top, "extends") is not null)
            return ParseExtension(top, fileName, registry, profile, overrides, readFiles);
        return ParseStages(root, fileName, fileName, registry, profile, overrides, [], [], readFiles);
    }

    /// <summary>A file with <c>extends</c>: the base file's pipeline under this file's name, with this file's params and profiles.</summary>
    private static Pipeline ParseExtension(YamlMappingNode top, string file, StageRegistry registry, string? profile, IEnumerable<string>? overrides, bool readFiles)
    {
        SourceLocation At(YamlNode n) => new(file, (int)n.Start.Line, (int)n.Start.Column);
        PipelineException Error(YamlNode at, string key, string message) => new(message, At(at), key);
        CheckKeys(top, "", ["extends", "params", "profiles", "description"], Error);
        if (Child(top, "extends") is not YamlScalarNode { Value: { Length: > 0 } baseName } extendsNode)
            throw Error(top, "extends", "extends names the pipeline file this one builds on (a path relative to this file)");
        var basePath = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".", baseName));
        if (!File.Exists(basePath)) throw Error(extendsNode, "extends", $"pipeline file '{baseName}' does not exist ({basePath})");
        var baseRoot = ReadYaml(File.ReadAllText(basePath), basePath);
        if (baseRoot is YamlMappingNode b && Child(b, "extends") is { } chained)
            throw Error(extendsNode, "extends", $"'{baseName}' itself extends '{Text(chained)}'; extend a file with stages");

        var settings = new List<Override>();
        if (Child(top, "params") is { } paramsNode)
        {
            if (paramsNode is not YamlMappingNode pm) throw Error(paramsNode, "params", "params is a mapping of stage.param → value");
            settings.AddRange(pm.Children.Select(kv => new Override(Text(kv.Key), kv.Value, At(kv.Key))));
        }
        return ParseStages(baseRoot, basePath, file, registry, profile, overrides, settings, ReadProfiles(top, Error, At), readFiles);
    }

    private static Dictionary<string, List<Override>> ReadProfiles(YamlMappingNode top, Func<YamlNode, string, string, PipelineException> error, Func<YamlNode, SourceLocation> at)
    {
        var profiles = new Dictionary<string, List<Override>>(StringComparer.Ordinal);
        if (Child(top, "profiles") is not { } profilesNode) return profiles;
        if (profilesNode is not YamlMappingNode pm) throw error(profilesNode, "profiles", "profiles is a mapping of profile name → {stage.param: value}");
        foreach (var (k, v) in pm.Children)
        {
            var pname = Text(k);
            if (v is not YamlMappingNode settings) throw error(v, $"profiles.{pname}", "a profile is a mapping of stage.param → value");
            profiles[pname] = settings.Children.Select(kv => new Override(Text(kv.Key), kv.Value, at(kv.Key))).ToList();
        }
        return profiles;
    }

    /// <param name="file">The file holding the stages (errors about them name it).</param>
    /// <param name="pipelineFile">The file the user named (the pipeline's name); another one when it extends <paramref name="file"/>.</param>
    /// <param name="settings">An extending file's params, applied after the stages' own.</param>
    /// <param name="extraProfiles">An extending file's profiles, added to (or replacing) those of <paramref name="file"/>.</param>
    private static Pipeline ParseStages(YamlNode root, string file, string pipelineFile, StageRegistry registry, string? profile, IEnumerable<string>? overrides,
        List<Override> settings, Dictionary<string, List<Override>> extraProfiles, bool readFiles)
    {
        SourceLocation At(YamlNode n) => new(file, (int)n.Start.Line, (int)n.Start.Column);
        PipelineException Error(YamlNode at, string key, string message) => new(message, At(at), key);

        if (root is not YamlMappingNode top) throw Error(root, "(root)", "a pipeline file is a mapping with 'stages' (and optionally 'profiles', 'description'), or one that 'extends' another");
        CheckKeys(top, "", ["stages", "profiles", "description"], Error);
        if (Child(top, "stages") is not YamlMappingNode stagesNode || stagesNode.Children.Count == 0)
            throw Error(top, "stages", "missing or empty 'stages' mapping");

        // Pass 1: stages with their kind, params, variants and input references.
        var stages = new List<StageSpec>();
        foreach (var (keyNode, valueNode) in stagesNode.Children)
        {
            var name = Text(keyNode);
            var key = $"stages.{name}";
            if (!StageName().IsMatch(name)) throw Error(keyNode, key, "stage names use letters, digits, '-' and '_'");
            if (valueNode is not YamlMappingNode body) throw Error(valueNode, key, "a stage is a mapping with 'kind' (and 'params', 'inputs', 'variants', 'description')");
            CheckKeys(body, key + ".", ["kind", "params", "inputs", "variants", SeedAxis.Key, "description"], Error);
            if (Child(body, "kind") is not YamlScalarNode kindNode || string.IsNullOrEmpty(kindNode.Value))
                throw Error(body, key + ".kind", "missing 'kind'");
            if (!registry.TryGet(kindNode.Value!, out var kind))
                throw Error(kindNode, key + ".kind", $"unknown stage kind '{kindNode.Value}' (known: {string.Join(", ", registry.Kinds.Select(k => k.Name).Order())})");
            stages.Add(new StageSpec(name, kind, body, keyNode));
        }
        var byName = stages.ToDictionary(s => s.Name, StringComparer.Ordinal);

        foreach (var s in stages)
        {
            var key = $"stages.{s.Name}";
            if (Child(s.Body, "params") is { } paramsNode)
            {
                if (paramsNode is not YamlMappingNode pm) throw Error(paramsNode, key + ".params", "params is a mapping of param → value");
                foreach (var (k, v) in pm.Children) s.Params.Add(new Override($"{s.Name}.{Text(k)}", v, At(k)));
            }
            if (Child(s.Body, "variants") is { } variantsNode)
            {
                var vkey = key + ".variants";
                switch (variantsNode)
                {
                    case YamlMappingNode vm:
                        foreach (var (k, v) in vm.Children)
                        {
                            var vname = CheckVariant(k, vkey, Error);
                            s.Variants.Add(vname);
                            if (v is YamlMappingNode vp)
                                foreach (var (pk, pv) in vp.Children) s.VariantParams.Add(new Override($"{s.Name}[{vname}].{Text(pk)}", pv, At(pk)));
                            else if (!(v is YamlScalarNode { Value: null or "" or "~" or "null" }))
                                throw Error(v, $"{vkey}.{vname}", "a variant is a mapping of param → value (or empty)");
                        }
                        break;
                    case YamlSequenceNode vs:
                        if (!s.Kind.Params.ByName.ContainsKey("variant"))
                            throw Error(vs, vkey, $"a variant list sets the param 'variant', which kind '{s.Kind.Name}' does not have; write variants as a mapping name → params");
                        foreach (var v in vs.Children)
                        {
                            var vname = CheckVariant(v, vkey, Error);
                            s.Variants.Add(vname);
                            s.VariantParams.Add(new Override($"{s.Name}[{vname}].variant", new YamlScalarNode(vname), At(v)));
                        }
                        break;
                    case YamlScalarNode { Value: { Length: > 0 } other }:
                        if (!byName.TryGetValue(other, out var source)) throw Error(variantsNode, vkey, $"'{other}' is not a stage of this pipeline");
                        s.VariantsFrom = (source, variantsNode);
                        break;
                    default:
                        throw Error(variantsNode, vkey, "variants is a mapping name → params, a list of names, or the name of another stage");
                }
                if (s.Variants.Count != s.Variants.Distinct().Count()) throw Error(variantsNode, vkey, "duplicate variant name");
            }
            if (Child(s.Body, SeedAxis.Key) is { } seedsNode)
                s.Seeds = ReadSeeds(s, seedsNode, message => Error(seedsNode, $"{key}.{SeedAxis.Key}", message));
            if (Child(s.Body, "inputs") is { } inputsNode)
            {
                if (inputsNode is not YamlMappingNode im) throw Error(inputsNode, key + ".inputs", "inputs is a mapping of input name → stage reference");
                foreach (var (k, v) in im.Children)
                {
                    var iname = Text(k);
                    var ikey = $"{key}.inputs.{iname}";
                    var declared = s.Kind.Inputs.FirstOrDefault(i => i.Name == iname)
                        ?? throw Error(k, ikey, $"kind '{s.Kind.Name}' has no input '{iname}' (inputs: {Names(s.Kind.Inputs.Select(i => i.Name))})");
                    var refs = v switch
                    {
                        YamlScalarNode sc when !string.IsNullOrEmpty(sc.Value) => [sc],
                        YamlSequenceNode seq => seq.Children.Select(c => c as YamlScalarNode ?? throw Error(c, ikey, "expected a stage reference")).ToList(),
                        _ => throw Error(v, ikey, "expected a stage reference (stage, stage[variant] or stage[*]) or a list of them"),
                    };
                    s.Inputs.Add((declared, refs, k));
                }
            }
            foreach (var missing in s.Kind.Inputs.Where(i => !i.Optional && s.Inputs.All(x => x.Input.Name != i.Name)))
                throw Error(s.Body, $"{key}.inputs.{missing.Name}", $"missing input '{missing.Name}' required by kind '{s.Kind.Name}'");
        }

        // Profiles and command-line overrides: validated even when not selected, so typos surface early.
        var profiles = ReadProfiles(top, Error, At);
        foreach (var (pname, entries) in extraProfiles) profiles[pname] = entries;
        var applied = new List<Override>();
        if (profile is not null)
        {
            if (!profiles.TryGetValue(profile, out var selected))
                throw new PipelineException($"unknown profile '{profile}' (profiles of {pipelineFile}: {Names(profiles.Keys)})", SourceLocation.CommandLine, "--profile");
            applied.AddRange(selected.OrderBy(o => o.Key.Contains('['))); // stage-wide settings first, then per variant
        }
        applied.AddRange((overrides ?? []).Select(ParseOverride).OrderBy(o => o.Key.Contains('[')));

        // Seeds set outside the stage (extending file, profile, -p) replace the stage's own, before variants expand.
        bool IsSeeds(Override o) => Setting().Match(o.Key) is { Success: true } m && m.Groups["param"].Value == SeedAxis.Key;
        foreach (var (pname, entries) in profiles)
            foreach (var o in entries.Where(IsSeeds))
                if (pname != profile) SeedsSetting(o, byName, $"profiles.{pname}.{o.Key}");
        foreach (var o in settings.Where(IsSeeds)) { var (st, seeds) = SeedsSetting(o, byName, $"params.{o.Key}"); st.Seeds = seeds; }
        foreach (var o in applied.Where(IsSeeds))
        {
            var (st, seeds) = SeedsSetting(o, byName, o.Location == SourceLocation.CommandLine ? $"-p {o.Key}" : $"profiles.{profile}.{o.Key}");
            st.Seeds = seeds;
        }
        settings = settings.Where(o => !IsSeeds(o)).ToList();
        applied = applied.Where(o => !IsSeeds(o)).ToList();
        profiles = profiles.ToDictionary(kv => kv.Key, kv => kv.Value.Where(o => !IsSeeds(o)).ToList());
        foreach (var s in stages) s.ExpandSeeds();
        foreach (var s in stages) ResolveVariantsFrom(s, [], Error);

        // Expand variants into nodes and resolve params in precedence order.
        var nodes = new Dictionary<string, (StageSpec Stage, string? Variant, SortedDictionary<string, string> Params)>(StringComparer.Ordinal);
        foreach (var s in stages)
            foreach (var variant in s.Variants.Count == 0 ? [null] : s.Variants.Cast<string?>())
                nodes[NodeDefinition.IdOf(s.Name, variant)] = (s, variant, s.Kind.Params.Defaults());
        foreach (var (_, (s, variant, parameters)) in nodes)
            if (s.Seeds is { } seeds)
                parameters[SeedAxis.Param] = ParamSchema.Convert(s.Kind.Params.ByName[SeedAxis.Param],
                    (seeds.Count == 1 ? seeds[0] : SeedAxis.Split(variant!).Seed!.Value).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // File params hold their file's path until every setting is applied: only the file that wins is read.
        var files = new Dictionary<(string Node, string Param), (string Path, Override From, string Key)>();
        foreach (var o in stages.SelectMany(s => s.Params.Concat(s.VariantParams)))
            Apply(o, nodes, byName, ParamKey(o.Key), files);
        foreach (var o in settings.OrderBy(o => o.Key.Contains('[')))
            Apply(o, nodes, byName, $"params.{o.Key}", files);
        foreach (var (pname, entries) in profiles)
            foreach (var o in entries)
                if (pname != profile) Apply(o, nodes, byName, $"profiles.{pname}.{o.Key}", files, dryRun: true);
        foreach (var o in applied)
            Apply(o, nodes, byName, o.Location == SourceLocation.CommandLine ? $"-p {o.Key}" : $"profiles.{profile}.{o.Key}", files);
        foreach (var ((node, param), (path, from, key)) in readFiles ? files : [])
        {
            try { nodes[node].Params[param] = ParamSchema.Convert(nodes[node].Stage.Kind.Params.ByName[param], FileText(path, from.Location)); }
            catch (FormatException e) { throw new PipelineException($"param '{param}' of kind '{nodes[node].Stage.Kind.Name}': {e.Message}", from.Location.Line > 0 ? from.Location : SourceLocation.CommandLine, key); }
        }

        CompleteLockedParams(nodes.Values.Select(n => (n.Stage, n.Params)), file, Error);

        // Bind inputs to upstream node ids.
        var definitions = new List<NodeDefinition>();
        foreach (var (id, (s, variant, parameters)) in nodes)
        {
            var inputs = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            foreach (var (input, refs, keyNode) in s.Inputs)
            {
                var ikey = $"stages.{s.Name}.inputs.{input.Name}";
                var ids = refs.SelectMany(r => ResolveReference(r, s, variant, byName, ikey, Error)).ToList();
                if (!input.Many && ids.Count != 1)
                    throw Error(keyNode, ikey, $"input '{input.Name}' of kind '{s.Kind.Name}' takes one node, the reference gives {ids.Count} ({string.Join(", ", ids)})");
                inputs[input.Name] = ids;
            }
            definitions.Add(new NodeDefinition(id, s.Name, variant, s.Kind.Name, parameters, inputs, At(s.KeyNode), Seeded: s.Seeds is not null));
        }
        var ordered = TopologicalOrder(definitions, stages, Error);
        return new Pipeline(Path.GetFileNameWithoutExtension(pipelineFile), pipelineFile, ordered, profiles.Keys.ToList(), profile);
    }

    /// <summary>Locked params last (<see cref="ILockedParams"/>): they come from a file beside the pipeline, whatever the settings were.</summary>
    private static void CompleteLockedParams(IEnumerable<(StageSpec Stage, SortedDictionary<string, string> Params)> nodes, string file,
        Func<YamlNode, string, string, PipelineException> error)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".";
        foreach (var (stage, parameters) in nodes)
        {
            if (stage.Kind is not ILockedParams locked) continue;
            try { locked.Complete(parameters, folder); }
            catch (FormatException e) { throw error(stage.KeyNode, $"stages.{stage.Name}", e.Message); }
        }
    }

    private static string ParamKey(string key)
    {
        var m = Setting().Match(key);
        return m.Success
            ? $"stages.{m.Groups["stage"].Value}" + (m.Groups["variant"].Success ? $".variants.{m.Groups["variant"].Value}" : ".params") + $".{m.Groups["param"].Value}"
            : key;
    }

    /// <summary>Parses "stage.param=value" or "stage[variant].param=value" (value in YAML syntax).</summary>
    public static Override ParseOverride(string text)
    {
        var (key, valueText) = SplitOverride(text);
        YamlNode value;
        try { value = ReadYaml(valueText.Length == 0 ? "''" : valueText, "-p " + key); }
        catch (PipelineException e) { throw new PipelineException($"value '{valueText}' is not valid YAML: {e.Reason}", SourceLocation.CommandLine, "-p " + key); }
        return new Override(key, value, SourceLocation.CommandLine);
    }

    /// <summary>"stage.param=value" → (stage.param, value text), unparsed.</summary>
    public static (string Key, string Value) SplitOverride(string text)
    {
        var eq = text.IndexOf('=');
        // A seed's variant name holds '=' (train[early-concat/seed=2].steps=10): the separator follows the ']'.
        var open = text.IndexOf('[');
        if (open >= 0 && open < eq && text.IndexOf(']', open) is var close and > 0) eq = text.IndexOf('=', close);
        if (eq <= 0) throw new PipelineException($"expected stage.param=value, got '{text}'", SourceLocation.CommandLine, "-p");
        return (text[..eq].Trim(), text[(eq + 1)..]);
    }

    private static void Apply(Override o, Dictionary<string, (StageSpec Stage, string? Variant, SortedDictionary<string, string> Params)> nodes,
        Dictionary<string, StageSpec> stages, string key, Dictionary<(string Node, string Param), (string Path, Override From, string Key)> files, bool dryRun = false)
    {
        PipelineException Error(string message) => new(message, o.Location.Line > 0 ? o.Location : SourceLocation.CommandLine, key);
        var m = Setting().Match(o.Key);
        if (!m.Success) throw Error("expected stage.param or stage[variant].param");
        var stageName = m.Groups["stage"].Value;
        if (!stages.TryGetValue(stageName, out var stage)) throw Error($"no stage '{stageName}' (stages: {Names(stages.Keys)})");
        var paramName = m.Groups["param"].Value;
        if (!stage.Kind.Params.ByName.TryGetValue(paramName, out var info))
            throw Error($"kind '{stage.Kind.Name}' has no param '{paramName}' (params: {Names(stage.Kind.Params.ByName.Keys)})");
        string canonical;
        try { canonical = ParamSchema.Convert(info, ValueOf(o.Value)); }
        catch (FormatException e) { throw Error($"param '{paramName}' of kind '{stage.Kind.Name}': {e.Message}"); }
        var variant = m.Groups["variant"].Success ? m.Groups["variant"].Value : null;
        if (variant is not null && !stage.Matches(variant).Any())
            throw Error($"stage '{stageName}' has no variant '{variant}' (variants: {Names(stage.Variants)})");
        if (paramName == SeedAxis.Param && stage.Seeds is not null)
            throw Error($"stage '{stageName}' declares seeds ({string.Join(", ", stage.Seeds)}), which set its param '{SeedAxis.Param}'; change {stageName}.{SeedAxis.Key} instead");
        if (dryRun) return;
        var matching = variant is null ? null : stage.Matches(variant).ToHashSet(StringComparer.Ordinal);
        foreach (var (id, node) in nodes.Where(n => n.Value.Stage == stage && (matching is null || matching.Contains(n.Value.Variant!))))
        {
            node.Params[paramName] = canonical;
            if (info.File && ValueOf(o.Value) is string path) files[(id, paramName)] = (path, o, key);
            else files.Remove((id, paramName));
        }
    }

    /// <summary>The text of the file a file param names (see <see cref="ParamFileAttribute"/>).</summary>
    private static string FileText(string name, SourceLocation from)
    {
        var folder = from.Line > 0 ? Path.GetDirectoryName(Path.GetFullPath(from.File)) ?? "." : Directory.GetCurrentDirectory();
        var path = Path.GetFullPath(Path.Combine(folder, name));
        if (!File.Exists(path)) throw new FormatException($"names the file '{name}', which does not exist ({path})");
        if (new FileInfo(path).Length > ParamFileAttribute.MaxBytes) throw new FormatException($"names the file '{name}' ({path}), larger than a param may be ({ParamFileAttribute.MaxBytes} bytes)");
        return File.ReadAllText(path);
    }

    /// <summary>A YAML value as ParamSchema.Convert takes it: scalar text (null for a plain null) or a list of them.</summary>
    private static object? ValueOf(YamlNode node) => node switch
    {
        YamlScalarNode s when s.Style == ScalarStyle.Plain && s.Value is null or "" or "~" or "null" or "Null" or "NULL" => null,
        YamlScalarNode s => s.Value,
        YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode sc ? ValueOf(sc) as string : throw new FormatException("lists of params hold scalars")).ToList(),
        _ => throw new FormatException("expected a value, got a mapping"),
    };

    private static IEnumerable<string> ResolveReference(YamlScalarNode r, StageSpec consumer, string? consumerVariant,
        Dictionary<string, StageSpec> stages, string key, Func<YamlNode, string, string, PipelineException> error)
    {
        var m = Reference().Match(r.Value ?? "");
        if (!m.Success) throw error(r, key, $"'{r.Value}' is not a stage reference (stage, stage[variant] or stage[*])");
        var name = m.Groups["stage"].Value;
        if (!stages.TryGetValue(name, out var up)) throw error(r, key, $"no stage '{name}' (stages: {Names(stages.Keys)})");
        if (up == consumer) throw error(r, key, $"stage '{name}' cannot take its own output (cycle: {name} → {name})");
        if (m.Groups["variant"].Success)
        {
            var v = m.Groups["variant"].Value;
            if (up.Variants.Count == 0) throw error(r, key, $"stage '{name}' has no variants; write '{name}'");
            if (v == "*") return up.Variants.Select(x => NodeDefinition.IdOf(name, x));
            var matching = up.Matches(v).ToList();
            return matching.Count > 0 ? matching.Select(x => NodeDefinition.IdOf(name, x)) : throw error(r, key, $"stage '{name}' has no variant '{v}' (variants: {Names(up.Variants)})");
        }
        if (up.Variants.Count == 0) return [name];
        if (consumerVariant is not null && up.Variants.Contains(consumerVariant)) return [NodeDefinition.IdOf(name, consumerVariant)];
        throw error(r, key, consumerVariant is null
            ? $"stage '{name}' has variants ({Names(up.Variants)}); write {name}[VARIANT], {name}[*], or give '{consumer.Name}' the same variants ('variants: {name}')"
            : $"stage '{name}' has no variant '{consumerVariant}' matching {consumer.Name}[{consumerVariant}]; write {name}[VARIANT] or {name}[*]");
    }

    private static void ResolveVariantsFrom(StageSpec s, HashSet<string> visiting, Func<YamlNode, string, string, PipelineException> error)
    {
        if (s.VariantsFrom is not var (source, at)) return;
        if (!visiting.Add(s.Name)) throw error(at, $"stages.{s.Name}.variants", $"variants refer to each other in a cycle ({string.Join(" → ", visiting)} → {s.Name})");
        ResolveVariantsFrom(source, visiting, error);
        if (source.Variants.Count == 0) throw error(at, $"stages.{s.Name}.variants", $"stage '{source.Name}' has no variants");
        s.Variants.AddRange(source.Variants);
        foreach (var (expanded, declared) in source.DeclaredOf) s.DeclaredOf[expanded] = declared;
        s.VariantsFrom = null;
    }

    private static List<NodeDefinition> TopologicalOrder(List<NodeDefinition> nodes, List<StageSpec> stages, Func<YamlNode, string, string, PipelineException> error)
    {
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the path, 2 = done
        var order = new List<NodeDefinition>();
        var path = new List<string>();
        void Visit(NodeDefinition n)
        {
            if (state.GetValueOrDefault(n.Id) == 2) return;
            if (state.GetValueOrDefault(n.Id) == 1)
            {
                var cycle = path.Skip(path.IndexOf(n.Id)).Append(n.Id).ToList();
                var stage = stages.First(s => s.Name == byId[cycle[0]].Stage);
                var at = Child(stage.Body, "inputs") ?? stage.Body;
                throw error(at, $"stages.{stage.Name}.inputs", $"cycle: {string.Join(" → ", cycle)}");
            }
            state[n.Id] = 1;
            path.Add(n.Id);
            foreach (var up in n.Upstream) Visit(byId[up]);
            path.RemoveAt(path.Count - 1);
            state[n.Id] = 2;
            order.Add(n);
        }
        foreach (var n in nodes) Visit(n);
        return order;
    }

    private static YamlNode ReadYaml(string text, string file)
    {
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try { stream.Load(new Parser(scanner)); }
        catch (YamlException e) { throw new PipelineException((e.InnerException ?? e).Message, new SourceLocation(file, (int)e.Start.Line, (int)e.Start.Column)); }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner fails this way, without a position, on some unclosed flow collections ("{a: 1" then
            // more keys); where it stopped reading is the best place to point at.
            var at = scanner.CurrentPosition;
            throw new PipelineException($"malformed YAML near here (is a '{{', '[' or quote left unclosed?): {e.Message}", new SourceLocation(file, (int)at.Line, (int)at.Column));
        }
        if (stream.Documents.Count != 1) throw new PipelineException($"expected one YAML document, found {stream.Documents.Count}", new SourceLocation(file, 1, 1));
        return stream.Documents[0].RootNode;
    }

    private static void CheckKeys(YamlMappingNode node, string prefix, string[] allowed, Func<YamlNode, string, string, PipelineException> error)
    {
        foreach (var k in node.Children.Keys)
            if (!allowed.Contains(Text(k)))
                throw error(k, prefix + Text(k), $"unknown key '{Text(k)}' (expected one of: {string.Join(", ", allowed)})");
    }

    private static string CheckVariant(YamlNode node, string key, Func<YamlNode, string, string, PipelineException> error)
    {
        var name = Text(node);
        return VariantName().IsMatch(name) && name != "*" ? name : throw error(node, $"{key}.{name}", "variant names use letters, digits, '-', '_' and '.'");
    }

    /// <summary>A <c>stage.seeds</c> setting: its stage and seed list.</summary>
    private static (StageSpec Stage, List<long> Seeds) SeedsSetting(Override o, Dictionary<string, StageSpec> stages, string key)
    {
        PipelineException Error(string message) => new(message, o.Location.Line > 0 ? o.Location : SourceLocation.CommandLine, key);
        var m = Setting().Match(o.Key);
        if (m.Groups["variant"].Success) throw Error($"seeds are set per stage ({m.Groups["stage"].Value}.{SeedAxis.Key}), not per variant");
        var stageName = m.Groups["stage"].Value;
        if (!stages.TryGetValue(stageName, out var stage)) throw Error($"no stage '{stageName}' (stages: {Names(stages.Keys)})");
        return (stage, ReadSeeds(stage, o.Value, Error));
    }

    private static List<long> ReadSeeds(StageSpec stage, YamlNode node, Func<string, PipelineException> error)
    {
        if (!stage.Kind.Params.ByName.ContainsKey(SeedAxis.Param))
            throw error($"seeds set the param '{SeedAxis.Param}', which kind '{stage.Kind.Name}' does not have");
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

    private static YamlNode? Child(YamlMappingNode m, string key) =>
        m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private static string Text(YamlNode n) => n is YamlScalarNode s ? s.Value ?? "" : n.ToString();

    private static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names.Order(StringComparer.Ordinal)) : "none";

    private sealed class StageSpec(string name, IStageKind kind, YamlMappingNode body, YamlNode keyNode)
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
        public List<(StageInput Input, List<YamlScalarNode> Refs, YamlNode Key)> Inputs { get; } = [];
    }
}

using Fusion.Workflow.Stages;
using YamlDotNet.RepresentationModel;
using static Fusion.Workflow.Pipelines.PipelineSyntax;

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
/// <para>
/// Reading is a typed parse (<see cref="StagesFile"/>, <see cref="ExtensionFile"/>) followed by passes, each a named
/// step: resolve <c>extends</c>, select the settings (profile, <c>-p</c>), expand variants and seeds, bind params, bind
/// inputs, order.
/// </para>
public static class PipelineLoader
{
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
        var (file, extension) = ResolveExtends(ReadYaml(yaml, fileName), fileName, registry);
        var settings = PipelineSettings.Select(file, extension, fileName, profile, overrides);
        settings = VariantExpansion.Expand(file, settings);
        var nodes = ParamBinding.Bind(file, settings, readFiles);
        var ordered = Order(InputBinding.Bind(file, nodes), file);
        return new Pipeline(Path.GetFileNameWithoutExtension(fileName), fileName, ordered, settings.Profiles.Keys.ToList(), profile);
    }

    /// <summary>The file with the stages (the named one, or the one it extends) and the extending file, if any.</summary>
    private static (StagesFile File, ExtensionFile? Extension) ResolveExtends(YamlNode root, string fileName, StageRegistry registry)
    {
        if (root is not YamlMappingNode top || Child(top, "extends") is null)
            return (StagesFile.Read(root, new SourceFile(fileName), registry), null);
        var extension = ExtensionFile.Read(top, new SourceFile(fileName));
        return (StagesFile.Read(extension.BaseRoot, new SourceFile(extension.BasePath), registry), extension);
    }

    /// <summary>The nodes upstream first (otherwise in file order); a cycle is an error at the inputs of its first stage.</summary>
    private static IReadOnlyList<NodeDefinition> Order(List<NodeDefinition> nodes, StagesFile file)
    {
        var (order, cycle) = DagOrder.Sort(nodes, n => n.Id, n => n.Upstream);
        if (cycle is null) return order;
        var stage = file.ByName[nodes.First(n => n.Id == cycle[0]).Stage];
        var at = Child(stage.Body, "inputs") ?? stage.Body;
        throw file.Source.Error(at, $"stages.{stage.Name}.inputs", $"cycle: {string.Join(" → ", cycle)}");
    }

    /// <summary>Parses "stage.param=value" or "stage[variant].param=value" (value in YAML syntax).</summary>
    internal static Override ParseOverride(string text)
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
}

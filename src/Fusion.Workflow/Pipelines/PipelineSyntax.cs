using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Fusion.Workflow.Pipelines;

/// <summary>A <c>stage.param</c> setting (a stage's param, a variant's, an extending file's, a profile entry or a
/// <c>-p</c> override); the value is YAML (e.g. 3, true, [1, 2]).</summary>
internal sealed record Override(string Key, YamlNode Value, SourceLocation Location)
{
    /// <summary>An error in this setting, shown under <paramref name="key"/> at the file line it came from, else as the command line's.</summary>
    public PipelineException Error(string key, string message) => new(message, Location.Line > 0 ? Location : SourceLocation.CommandLine, key);
}

/// <summary>A pipeline file being read: where its nodes are, for errors that name file:line:column and the key.</summary>
internal sealed record SourceFile(string Path)
{
    public SourceLocation At(YamlNode n) => new(Path, (int)n.Start.Line, (int)n.Start.Column);
    public PipelineException Error(YamlNode at, string key, string message) => new(message, At(at), key);
}

/// <summary>The names, references and YAML shapes a pipeline file is written in.</summary>
internal static partial class PipelineSyntax
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]*$")] public static partial Regex StageName();
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")] public static partial Regex VariantName();
    [GeneratedRegex(@"^(?<stage>[A-Za-z0-9][A-Za-z0-9_-]*)(\[(?<variant>[^\]]+)\])?$")] public static partial Regex Reference();
    [GeneratedRegex(@"^(?<stage>[A-Za-z0-9][A-Za-z0-9_-]*)(\[(?<variant>[^\]]+)\])?\.(?<param>[A-Za-z0-9_]+)$")] public static partial Regex Setting();

    public static YamlNode ReadYaml(string text, string file)
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

    public static void CheckKeys(YamlMappingNode node, string prefix, string[] allowed, SourceFile file)
    {
        foreach (var k in node.Children.Keys)
            if (!allowed.Contains(Text(k)))
                throw file.Error(k, prefix + Text(k), $"unknown key '{Text(k)}' (expected one of: {string.Join(", ", allowed)})");
    }

    public static YamlNode? Child(YamlMappingNode m, string key) =>
        m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    public static string Text(YamlNode n) => n is YamlScalarNode s ? s.Value ?? "" : n.ToString();

    public static string Names(IEnumerable<string> names) => names.Any() ? string.Join(", ", names.Order(StringComparer.Ordinal)) : "none";

    /// <summary>Whether <paramref name="o"/> sets a stage's seeds (<c>stage.seeds</c>) rather than a param.</summary>
    public static bool IsSeeds(Override o) => Setting().Match(o.Key) is { Success: true } m && m.Groups["param"].Value == SeedAxis.Key;

    /// <summary>A YAML value as ParamSchema.Convert takes it: scalar text (null for a plain null) or a list of them.</summary>
    public static object? ValueOf(YamlNode node) => node switch
    {
        YamlScalarNode s when s.Style == ScalarStyle.Plain && s.Value is null or "" or "~" or "null" or "Null" or "NULL" => null,
        YamlScalarNode s => s.Value,
        YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode sc ? ValueOf(sc) as string : throw new FormatException("lists of params hold scalars")).ToList(),
        _ => throw new FormatException("expected a value, got a mapping"),
    };
}

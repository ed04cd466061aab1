using System.Net;
using System.Text;
using Markdig;
using Markdig.Renderers;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Markdig.Extensions.Tables;

namespace Fusion.Reproduction.Report;

/// <summary>
/// report.html: the report's Markdown as one self-contained page that opens offline — every local image inlined as a
/// data: URI, an embedded stylesheet, no scripts, and a Content-Security-Policy that refuses any other request.
/// Verdict words (supported, not supported, inconclusive, not measured) get a class and a colour.
/// </summary>
public static class HtmlReport
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    private static readonly Dictionary<string, string> ImageTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".png"] = "image/png", [".jpg"] = "image/jpeg", [".jpeg"] = "image/jpeg", [".gif"] = "image/gif", [".svg"] = "image/svg+xml", [".webp"] = "image/webp",
    };

    /// <summary>The words a verdict may be, longest first so "not supported" is not read as "supported".</summary>
    public static readonly string[] Verdicts = ["not supported", "not measured", "inconclusive", "equivalent", "supported"];

    /// <param name="markdown">The report.md text.</param>
    /// <param name="folder">Where the images it links (relative paths) are.</param>
    public static string Render(string markdown, string folder)
    {
        var document = Markdown.Parse(markdown, Pipeline);
        var root = Path.GetFullPath(folder);
        foreach (var image in document.Descendants<LinkInline>().Where(l => l.IsImage)) image.Url = Inline(image.Url ?? "", root);
        foreach (var cell in document.Descendants<TableCell>())
            if (Verdict(PlainText(cell)) is { } v) cell.GetAttributes().AddClass("verdict " + v);
        foreach (var strong in document.Descendants<EmphasisInline>())
            if (Verdict(PlainText(strong)) is { } v) strong.GetAttributes().AddClass("verdict " + v);

        var body = new StringWriter();
        var renderer = new HtmlRenderer(body);
        Pipeline.Setup(renderer);
        renderer.Render(document);
        var title = document.Descendants<HeadingBlock>().FirstOrDefault(h => h.Level == 1) is { } h1 ? PlainText(h1) : "Report";
        return new StringBuilder()
            .AppendLine("<!DOCTYPE html>")
            .AppendLine("<html lang=\"en\">")
            .AppendLine("<head>")
            .AppendLine("<meta charset=\"utf-8\">")
            .AppendLine("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            // Offline by construction: the browser itself refuses anything but the inlined images and the stylesheet.
            .AppendLine("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">")
            .AppendLine($"<title>{WebUtility.HtmlEncode(title)}</title>")
            .AppendLine("<style>").Append(Style).AppendLine("</style>")
            .AppendLine("</head>")
            .AppendLine("<body>")
            .AppendLine("<main>")
            .Append(body)
            .AppendLine("</main>")
            .AppendLine("</body>")
            .AppendLine("</html>")
            .ToString();
    }

    /// <summary>A local image as a data: URI; anything else (a remote URL, a path outside the folder, a missing file) is an error.</summary>
    private static string Inline(string url, string root)
    {
        if (url.StartsWith("data:", StringComparison.Ordinal)) return url;
        if (Uri.TryCreate(url, UriKind.Absolute, out var abs) && abs.Scheme != Uri.UriSchemeFile || url.StartsWith("//", StringComparison.Ordinal))
            throw new ArgumentException($"report.html: image '{url}' is not a local file (the page must open offline)");
        var path = Path.GetFullPath(Path.Combine(root, Uri.UnescapeDataString(url)));
        if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"report.html: image '{url}' is outside the report folder {root}");
        if (!ImageTypes.TryGetValue(Path.GetExtension(path), out var type))
            throw new ArgumentException($"report.html: image '{url}' has no known image type");
        if (!File.Exists(path)) throw new FileNotFoundException($"report.html: image '{url}' not found in {root}", path);
        return $"data:{type};base64,{Convert.ToBase64String(File.ReadAllBytes(path))}";
    }

    private static string? Verdict(string text)
    {
        // A verdict may carry its reason: "inconclusive (one seed: seed-to-seed spread unknown)".
        var t = text.Trim().TrimEnd('.').ToLowerInvariant();
        return Verdicts.FirstOrDefault(v => t == v || t.StartsWith(v + " (", StringComparison.Ordinal) && t.EndsWith(')')) is { } v ? "verdict-" + v.Replace(' ', '-') : null;
    }

    private static string PlainText(MarkdownObject node) => string.Concat(Inlines(node).Select(i => i switch
    {
        LiteralInline l => l.Content.ToString(), CodeInline c => c.Content, _ => "",
    }));

    /// <summary>The inlines under a node in document order (a leaf block's text is not among its block descendants).</summary>
    private static IEnumerable<Inline> Inlines(MarkdownObject node) => node switch
    {
        ContainerInline inline => inline.Descendants<Inline>(),
        LeafBlock { Inline: { } inline } => inline.Descendants<Inline>(),
        ContainerBlock block => block.Descendants<LeafBlock>().SelectMany(Inlines),
        _ => [],
    };

    private const string Style = """
        body { margin: 0; background: #f6f7f9; color: #1f2328; font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
        main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; min-height: 100vh; box-sizing: border-box; }
        h1 { font-size: 1.7em; margin: 0.4em 0 0.6em; border-bottom: 2px solid #d0d7de; padding-bottom: 0.3em; }
        h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
        h3 { font-size: 1.1em; margin-top: 1.4em; }
        code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; background: #f0f2f4; padding: 0.1em 0.3em; border-radius: 3px; }
        a { color: #0969da; }
        table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; max-width: 100%; font-size: 0.92em; }
        th, td { border: 1px solid #d0d7de; padding: 5px 10px; vertical-align: top; }
        th { background: #f0f2f4; font-weight: 600; }
        tbody tr:nth-child(even) { background: #fafbfc; }
        td[style*="right"] { font-variant-numeric: tabular-nums; white-space: nowrap; }
        img { max-width: 100%; height: auto; border: 1px solid #e5e7ea; display: block; margin: 0.5em 0; }
        .verdict { font-weight: 700; }
        strong.verdict { padding: 0.05em 0.4em; border-radius: 3px; }
        .verdict-supported { color: #116329; background: #dafbe1; }
        .verdict-not-supported { color: #a40e26; background: #ffebe9; }
        .verdict-inconclusive { color: #7d4e00; background: #fff8c5; }
        .verdict-equivalent { color: #0a3069; background: #ddf4ff; }
        .verdict-not-measured { color: #57606a; background: #eaeef2; }
        """;
}

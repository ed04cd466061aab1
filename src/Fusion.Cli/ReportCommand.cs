using System.CommandLine;
using Fusion.Artifacts.Store;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>
/// `fusion report [RUN] [--out DIR]`: prints the report of a run (default: the latest run that has one) and where its
/// files are; with --out, copies the report with its plots, grids and tables into DIR. No such run, or no report: exit 2.
/// </summary>
public static class ReportCommand
{
    public const string ReportFile = "report.md";

    public static Command Build()
    {
        var runArg = new Argument<string?>("run") { Arity = ArgumentArity.ZeroOrOne, Description = "run id or prefix (default: the latest run with a report)" };
        var store = new Option<string?>("--store") { Description = "artifact store: a folder (default .fusion/) or azure://ACCOUNT/CONTAINER[/PREFIX]" };
        var output = new Option<string?>("--out") { Description = "copy the report and everything it links into this folder" };
        var cmd = new Command("report", "Show a run's results report (claims, results table, plots, sample grids).") { runArg, store, output };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var s = await ArtifactStores.OpenAsync(parse.GetValue(store), ct: ct);
            var documents = new EngineDocuments(s);
            var wanted = parse.GetValue(runArg);
            var runs = wanted is null ? await documents.ListRunsAsync(ct)
                : [await documents.FindRunIdAsync(wanted, ct) ?? throw new PipelineException($"no run '{wanted}' in {s.Location}")];
            foreach (var runId in runs)
            {
                var read = await documents.ReadRunAsync(runId, ct);
                // Looking for the latest report, a damaged ledger document is skipped (and named); the run asked for must be readable.
                if (read.Error is { } bad && wanted is null) { AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(bad.Message)}; skipped"); continue; }
                if (read.OrThrow() is not { } run) break;
                foreach (var node in run.Nodes.Where(n => n.State is NodeState.Ran or NodeState.Cached))
                {
                    var lookup = await s.GetManifestAsync(node.Fingerprint, ct: ct);
                    if (lookup.Manifest is not { } manifest || manifest.Files.All(f => f.Name != ReportFile)) continue;
                    var path = await s.GetLocalPathAsync(manifest, ReportFile, ct);
                    if (parse.GetValue(output) is { } dir)
                    {
                        Directory.CreateDirectory(dir);
                        foreach (var f in manifest.Files)
                        {
                            var target = Path.Combine(dir, f.Name);
                            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
                            File.Copy(await s.GetLocalPathAsync(manifest, f.Name, ct), target, overwrite: true);
                        }
                        path = Path.Combine(dir, ReportFile);
                    }
                    Console.WriteLine(await File.ReadAllTextAsync(path, ct));
                    AnsiConsole.MarkupLine($"[grey]run {Markup.Escape(run.RunId)} · node {Markup.Escape(node.NodeId)} · {Markup.Escape(Path.GetFullPath(path))}[/]");
                    return 0;
                }
                if (wanted is not null) break;
            }
            throw new PipelineException(wanted is null
                ? $"no run in {s.Location} has a report yet: `fusion run` a pipeline with a report stage (the default shapes pipeline has one)"
                : $"run '{wanted}' has no report: its pipeline has no report stage, or the report did not run (`fusion status {wanted}` shows its nodes)");
        });
        return cmd;
    }
}

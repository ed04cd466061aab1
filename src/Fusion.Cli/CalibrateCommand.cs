using System.CommandLine;
using System.Globalization;
using Fusion.Reproduction.Measurement;
using Fusion.Reproduction.Report;
using Fusion.Reproduction.Seeds;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>
/// `fusion calibrate [PIPELINE] --seeds N`: trains and evaluates the headline pair (or the given pairs) under seeds
/// 1..N, measures how each paired difference moves from seed to seed, and writes that spread with its provenance beside
/// the pipeline (NAME.seed-spread.json), for one-seed reports of the same recipe to use (the report's
/// <c>seed_spread</c> param). It also prints the empirical coverage of one-seed intervals with and without the spread.
/// </summary>
public static class CalibrateCommand
{
    /// <summary>The command's options besides the engine's.</summary>
    private sealed record Options(EngineSetup Setup, Option<int> Seeds, Option<string[]> Pairs, Option<string?> Output, Option<int?> Jobs, Option<string?> Devices);

    public static Command Build()
    {
        var o = new Options(new EngineSetup(),
            new Option<int>("--seeds") { Description = "train seeds 1..N of each variant of the pairs (at least 3, so the coverage check has a spread without the seed it judges)", DefaultValueFactory = _ => 8 }.Within(new() { Min = 3 }),
            new Option<string[]>("--pair") { Description = $"INTERMEDIATE:EARLY variants to calibrate (repeatable; default {Claims.PaperModel}:{Claims.Baseline}, the paper's pair)" },
            new Option<string?>("--output", "-o") { Description = "the spread file (default NAME.seed-spread.json beside the pipeline; comparisons already in it for other pairs are kept)" },
            new Option<int?>("--jobs", "-j") { Description = "how many independent nodes may run at once (default: one per device slot)" }.Within(new() { Min = 1 }),
            new Option<string?>("--devices") { Description = "devices concurrent torch nodes run on (as for run)" });
        var cmd = new Command("calibrate", "Measure a recipe's seed-to-seed spread: train a pair under many seeds and store the spread one-seed reports use.") { o.Seeds, o.Pairs, o.Output, o.Jobs, o.Devices };
        o.Setup.AddTo(cmd);
        cmd.SetAction((parse, _) => RunAsync(o, parse));
        return cmd;
    }

    private static async Task<int> RunAsync(Options o, ParseResult parse)
    {
        var setup = o.Setup;
        using var shutdown = new ShutdownSignal();
        var ct = shutdown.Token;
        var interactive = EngineCommands.IsInteractive;
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new CliLoggerProvider(interactive, parse.GetValue(FusionCommand.Verbose) ? LogLevel.Debug : LogLevel.Information)).SetMinimumLevel(LogLevel.Trace));
        await using var store = setup.OpenStore(parse);
        var registry = setup.Registry(parse);
        var path = EngineSetup.ResolvePipelinePath(parse.GetValue(setup.Pipeline));
        var overrides = parse.GetValue(setup.Params) ?? [];
        // The spread file this command writes may not exist yet: file params stay paths here (the report is not run).
        var plain = PipelineLoader.Load(path, registry, parse.GetValue(setup.Profile), overrides, readFiles: false);
        var (stage, _) = UntilDecided.SeedStage(plain);
        var n = parse.GetValue(o.Seeds);
        IReadOnlyList<string> withSeeds = [.. overrides, $"{stage}.{SeedAxis.Key}=[{string.Join(",", Enumerable.Range(1, n))}]"];
        var pipeline = PipelineLoader.Load(path, registry, parse.GetValue(setup.Profile), withSeeds, readFiles: false);
        var wanted = (parse.GetValue(o.Pairs) is { Length: > 0 } given ? given : [$"{Claims.PaperModel}:{Claims.Baseline}"]).Select(ParsePair).ToList();
        var byVariant = Evaluations(pipeline, wanted);
        var targets = wanted.SelectMany(p => byVariant[p.Intermediate].Concat(byVariant[p.Early])).Select(e => e.Id).Distinct().ToList();

        var facts = setup.Facts(parse);
        var pool = EngineSetup.Devices(parse.GetValue(o.Devices), facts.GetFacts(), parse.GetValue(o.Jobs));
        var options = new RunOptions { Until = targets, Jobs = parse.GetValue(o.Jobs) ?? pool.Slots.Count, Overrides = withSeeds, Arguments = Environment.GetCommandLineArgs().Skip(1).ToList() };
        AnsiConsole.MarkupLine($"[bold]fusion calibrate[/] {Markup.Escape(pipeline.File)} · seeds 1–{n} · {Markup.Escape(string.Join(", ", wanted.Select(p => $"{p.Intermediate} vs {p.Early}")))} · store {Markup.Escape(store.Location)}");
        var run = await EngineCommands.ExecuteAsync(setup, store, registry, facts, loggers, pool, pipeline, options, interactive, ct);
        if (run.State != RunState.Succeeded)
        {
            EngineCommands.WriteRun(run);
            return run.State == RunState.Interrupted ? ExitCodes.Interrupted : ExitCodes.Failed;
        }

        var planned = Fingerprinter.Compute(pipeline, registry, facts.GetFacts());
        var machine = MachineSnapshot.Take();
        var file = parse.GetValue(o.Output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path) + ".seed-spread.json");
        var kept = File.Exists(file) ? SeedSpread.Parse(await File.ReadAllTextAsync(file, ct), file).Comparisons : [];
        var spread = new SeedSpread(pipeline.Name, $"fusion calibrate {Path.GetFileNameWithoutExtension(path)} --seeds {n}" + string.Concat(parse.GetValue(o.Pairs)?.Select(p => $" --pair {p}") ?? []) + string.Concat(overrides.Select(x => $" -p \"{x}\"")),
            DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            $"{machine.CpuModel}, {machine.LogicalCores} logical cores; " + string.Join(", ", facts.GetFacts().Values.Where(f => Fingerprinter.RecipeFacts.Contains(f.Key)).Select(f => $"{f.Key} {f.Value}")), []);
        var comparisons = await CompareAsync(store, planned, byVariant, wanted, spread, ct);
        spread = spread with { Comparisons = [.. kept.Where(k => !comparisons.Any(c => c.Intermediate == k.Intermediate && c.Early == k.Early)), .. comparisons] };
        await File.WriteAllTextAsync(file + ".tmp", spread.ToJson(), ct);
        File.Move(file + ".tmp", file, overwrite: true);
        AnsiConsole.MarkupLine($"wrote {Markup.Escape(file)}: commit it, and name it in the report's seed_spread param, so one-seed runs of this recipe use it");
        return ExitCodes.Ok;
    }

    /// <summary>The evaluations the report judges, by variant (with each one's seed); every wanted variant must have some.</summary>
    private static ILookup<string, (string Id, long? Seed)> Evaluations(Pipeline pipeline, IReadOnlyList<(string Intermediate, string Early)> wanted)
    {
        var report = pipeline.Nodes.Single(x => x.Stage == UntilDecided.ReportStageOf(pipeline));
        if (!report.Inputs.TryGetValue("evaluate", out var evaluations))
            throw new PipelineException($"the report of {pipeline.Name} takes no evaluations: nothing to calibrate", SourceLocation.CommandLine, "calibrate");
        var byVariant = evaluations.Select(id => (Id: id, Split: SeedAxis.Split(NodeDefinition.VariantOf(id)))).ToLookup(e => e.Split.Variant ?? "", e => (e.Id, Seed: e.Split.Seed));
        foreach (var v in wanted.SelectMany(p => new[] { p.Intermediate, p.Early }).Where(v => !byVariant.Contains(v)))
            throw new PipelineException($"no evaluated variant '{v}' in {pipeline.Name} (variants: {string.Join(", ", byVariant.Select(g => g.Key))})", SourceLocation.CommandLine, "--pair");
        return byVariant;
    }

    /// <summary>Each wanted pair's seed-to-seed spread, shown with the coverage of one-seed intervals.</summary>
    private static async Task<List<SpreadComparison>> CompareAsync(Fusion.Artifacts.Store.IArtifactStore store, IReadOnlyDictionary<string, PlannedNode> planned,
        ILookup<string, (string Id, long? Seed)> byVariant, IReadOnlyList<(string Intermediate, string Early)> wanted, SeedSpread spread, CancellationToken ct)
    {
        var comparisons = new List<SpreadComparison>();
        // Each variant's evaluations, read once (early-concat is in every default pair).
        var read = new Dictionary<string, List<RunResult>>(StringComparer.Ordinal);
        async Task<List<RunResult>> Runs(string variant) => read.TryGetValue(variant, out var known) ? known : read[variant] =
            [.. await Task.WhenAll(byVariant[variant].OrderBy(x => x.Seed).Select(async x =>
            {
                var node = planned[x.Id];
                var manifest = (await store.GetManifestAsync(node.Fingerprint, ct: ct)).Manifest ?? throw new InvalidOperationException($"{x.Id} is not committed after its run");
                return await Calibration.ReadRunAsync(store, manifest, variant, x.Seed, node.Recipe, ct);
            }))];
        foreach (var (i, e) in wanted)
        {
            var (ri, re) = (await Runs(i), await Runs(e));
            var recipes = (ri.Select(r => r.Recipe).Distinct().ToList(), re.Select(r => r.Recipe).Distinct().ToList());
            if (recipes.Item1.Count != 1 || recipes.Item2.Count != 1)
                throw new InvalidOperationException($"the seeds of {i} or {e} do not share one recipe; every seed of a variant must differ only in its seed");
            var paired = ri.Join(re, r => r.Seed, r => r.Seed, (x, y) => (x, y)).ToList();
            var comparison = Calibration.Spread(i, e, recipes.Item1[0]!, recipes.Item2[0]!, paired);
            comparisons.Add(comparison);
            Show(comparison, Calibration.Coverage(comparison, paired, spread));
        }
        return comparisons;
    }

    private static (string Intermediate, string Early) ParsePair(string text) =>
        text.Split(':') is [{ Length: > 0 } i, { Length: > 0 } e] ? (i, e)
        : throw new PipelineException($"'{text}' is not INTERMEDIATE:EARLY (e.g. {Claims.PaperModel}:{Claims.Baseline})", SourceLocation.CommandLine, "--pair");

    private static void Show(SpreadComparison c, IReadOnlyList<CoverageRow> coverage)
    {
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle($"{c.Intermediate} − {c.Early}, seeds {string.Join(",", c.Seeds)}") }
            .AddColumns("metric", "mean difference", "seed sd", "one-seed bootstrap: covers the mean", "half-width", "with the seed spread (leave one out): covers", "half-width");
        foreach (var r in coverage)
            table.AddRow(r.Metric, F(r.MeanDifference), F(r.SeedSd), r.BootstrapSeeds == 0 ? "no bootstrap" : $"{r.BootstrapCovered}/{r.BootstrapSeeds} ({100 * r.BootstrapCoverage:F0} %)", F(r.BootstrapHalfWidth),
                $"{r.SpreadCovered}/{r.Seeds} ({100 * r.SpreadCoverage:F0} %)", F(r.SpreadHalfWidth));
        AnsiConsole.Write(table);
        static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
    }
}

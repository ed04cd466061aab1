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
    public static Command Build()
    {
        var setup = new EngineSetup();
        var seeds = new Option<int>("--seeds") { Description = "train seeds 1..N of each variant of the pairs (at least 3, so the coverage check has a spread without the seed it judges)", DefaultValueFactory = _ => 8 }.Within(new() { Min = 3 });
        var pairs = new Option<string[]>("--pair") { Description = $"INTERMEDIATE:EARLY variants to calibrate (repeatable; default {Claims.PaperModel}:{Claims.Baseline}, the paper's pair)" };
        var output = new Option<string?>("--output", "-o") { Description = "the spread file (default NAME.seed-spread.json beside the pipeline; comparisons already in it for other pairs are kept)" };
        var jobs = new Option<int?>("--jobs", "-j") { Description = "how many independent nodes may run at once (default: one per device slot)" }.Within(new() { Min = 1 });
        var devices = new Option<string?>("--devices") { Description = "devices concurrent torch nodes run on (as for run)" };
        var cmd = new Command("calibrate", "Measure a recipe's seed-to-seed spread: train a pair under many seeds and store the spread one-seed reports use.") { seeds, pairs, output, jobs, devices };
        setup.AddTo(cmd);
        cmd.SetAction(async (parse, _) =>
        {
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
            var n = parse.GetValue(seeds);
            IReadOnlyList<string> withSeeds = [.. overrides, $"{stage}.{SeedAxis.Key}=[{string.Join(",", Enumerable.Range(1, n))}]"];
            var pipeline = PipelineLoader.Load(path, registry, parse.GetValue(setup.Profile), withSeeds, readFiles: false);
            var wanted = (parse.GetValue(pairs) is { Length: > 0 } given ? given : [$"{Claims.PaperModel}:{Claims.Baseline}"]).Select(ParsePair).ToList();

            // The evaluations the report judges, by variant and seed.
            var report = pipeline.Nodes.Single(x => x.Stage == UntilDecided.ReportStageOf(pipeline));
            if (!report.Inputs.TryGetValue("evaluate", out var evaluations))
                throw new PipelineException($"the report of {pipeline.Name} takes no evaluations: nothing to calibrate", SourceLocation.CommandLine, "calibrate");
            var byVariant = evaluations.Select(id => (Id: id, Split: SeedAxis.Split(ReportStage.VariantOf(id)))).ToLookup(e => e.Split.Variant ?? "", e => (e.Id, Seed: e.Split.Seed));
            foreach (var v in wanted.SelectMany(p => new[] { p.Intermediate, p.Early }).Where(v => !byVariant.Contains(v)))
                throw new PipelineException($"no evaluated variant '{v}' in {pipeline.Name} (variants: {string.Join(", ", byVariant.Select(g => g.Key))})", SourceLocation.CommandLine, "--pair");
            var targets = wanted.SelectMany(p => byVariant[p.Intermediate].Concat(byVariant[p.Early])).Select(e => e.Id).Distinct().ToList();

            var facts = setup.Facts(parse);
            var pool = EngineSetup.Devices(parse.GetValue(devices), facts.GetFacts(), parse.GetValue(jobs));
            var options = new RunOptions { Until = targets, Jobs = parse.GetValue(jobs) ?? pool.Slots.Count, Overrides = withSeeds, Arguments = Environment.GetCommandLineArgs().Skip(1).ToList() };
            AnsiConsole.MarkupLine($"[bold]fusion calibrate[/] {Markup.Escape(pipeline.File)} · seeds 1–{n} · {Markup.Escape(string.Join(", ", wanted.Select(p => $"{p.Intermediate} vs {p.Early}")))} · store {Markup.Escape(store.Location)}");
            var run = await EngineCommands.ExecuteAsync(setup, store, registry, facts, loggers, pool, pipeline, options, interactive, ct);
            if (run.State != RunState.Succeeded)
            {
                EngineCommands.WriteRun(run);
                return run.State == RunState.Interrupted ? ExitCodes.Interrupted : ExitCodes.Failed;
            }

            var planned = Fingerprinter.Compute(pipeline, registry, facts.GetFacts());
            var machine = MachineSnapshot.Take();
            var file = parse.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path) + ".seed-spread.json");
            var kept = File.Exists(file) ? SeedSpread.Parse(await File.ReadAllTextAsync(file, ct), file).Comparisons : [];
            var spread = new SeedSpread(pipeline.Name, $"fusion calibrate {Path.GetFileNameWithoutExtension(path)} --seeds {n}" + string.Concat(parse.GetValue(pairs)?.Select(p => $" --pair {p}") ?? []) + string.Concat(overrides.Select(o => $" -p \"{o}\"")),
                DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                $"{machine.CpuModel}, {machine.LogicalCores} logical cores; " + string.Join(", ", facts.GetFacts().Values.Where(f => Fingerprinter.RecipeFacts.Contains(f.Key)).Select(f => $"{f.Key} {f.Value}")), []);
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
            spread = spread with { Comparisons = [.. kept.Where(k => !comparisons.Any(c => c.Intermediate == k.Intermediate && c.Early == k.Early)), .. comparisons] };
            await File.WriteAllTextAsync(file + ".tmp", spread.ToJson(), ct);
            File.Move(file + ".tmp", file, overwrite: true);
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(file)}: commit it, and name it in the report's seed_spread param, so one-seed runs of this recipe use it");
            return ExitCodes.Ok;
        });
        return cmd;
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

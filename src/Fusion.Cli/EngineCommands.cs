using System.CommandLine;
using System.Runtime.InteropServices;
using Fusion.Artifacts.Store;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>`fusion run | submit | plan | status | gc | pin | unpin`: the engine's commands.</summary>
public static class EngineCommands
{
    public static IEnumerable<Command> Build()
    {
        yield return Run();
        yield return Submit();
        yield return Plan();
        yield return Status();
        yield return Gc();
        foreach (var c in Pins()) yield return c;
    }

    private static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    private static Command Run()
    {
        var setup = new EngineSetup();
        var only = new Option<string[]>("--only") { Description = "run only this node or stage (its inputs must be committed); repeatable" };
        var until = new Option<string[]>("--until") { Description = "run this node or stage and everything upstream of it; repeatable" };
        var force = new Option<string[]>("--force") { Description = "recompute this node or stage even when cached ('all' for every node); repeatable" };
        var verify = new Option<bool>("--verify") { Description = "check SHA-256 of every committed file, recompute broken nodes and every node downstream of them (files a node reads are always checked before use)" };
        var jobs = new Option<int?>("--jobs", "-j") { Description = "how many independent nodes may run at once (default: one per device slot: every visible GPU with --device cuda; on the CPU one per core, where a torch node also needs free cores for its threads, every core unless its stage declares fewer)" }.Within(new() { Min = 1 });
        var devices = new Option<string?>("--devices") { Description = "devices concurrent torch nodes run on, one node per entry at a time: cuda:0,cuda:1,… or cpu,cpu (default: every visible GPU with --device cuda, else one cpu per job, or one per core without --jobs)" };
        var untilDecided = new Option<bool>("--until-decided") { Description = "add training seeds one at a time, judging the report's claims after each, until every headline quality claim is supported, not supported or equivalent (intervals at a sequential design's levels; see --max-seeds, --budget)" };
        var maxSeeds = new Option<int>("--max-seeds") { Description = "with --until-decided: the most seeds to train (the sequential design spends its error rate over this many looks)", DefaultValueFactory = _ => 8 }.Within(new() { Min = 1 });
        var budget = new Option<string?>("--budget") { Description = "with --until-decided: stop adding seeds when the next one would end past this much wall time (e.g. 90m, 2h, 1:30:00)" };
        var cmd = new Command("run", "Run a pipeline: reuse every node whose fingerprint is committed, compute the rest.") { only, until, force, verify, jobs, devices, untilDecided, maxSeeds, budget };
        setup.AddTo(cmd);
        cmd.SetAction(async (parse, _) =>
        {
            using var shutdown = new ShutdownSignal();
            var interactive = Interactive;
            using var loggers = LoggerFactory.Create(b => b.AddProvider(new CliLoggerProvider(interactive, parse.GetValue(FusionCommand.Verbose) ? LogLevel.Debug : LogLevel.Information)).SetMinimumLevel(LogLevel.Trace));
            await using var store = setup.OpenStore(parse);
            var registry = setup.Registry(parse);
            var pipeline = setup.LoadPipeline(parse, registry);
            var sequential = parse.GetValue(untilDecided);
            var budgetTime = parse.GetValue(budget) is { } b ? ParseDuration(b) : (TimeSpan?)null;
            if (!sequential && (budgetTime is not null || parse.GetResult(maxSeeds) is { Implicit: false }))
                throw new PipelineException("--max-seeds and --budget belong to --until-decided", SourceLocation.CommandLine, "--until-decided");
            var options = new RunOptions
            {
                Only = parse.GetValue(only) ?? [],
                Until = parse.GetValue(until) ?? [],
                Force = parse.GetValue(force) ?? [],
                Verify = parse.GetValue(verify),
                Overrides = parse.GetValue(setup.Params) ?? [],
                Arguments = Environment.GetCommandLineArgs().Skip(1).ToList(),
            };
            if (sequential && (options.Only.Count > 0 || options.Until.Count > 0 || options.Force.Count > 0))
                throw new PipelineException("--until-decided runs the whole pipeline at each look; it takes no --only, --until or --force", SourceLocation.CommandLine, "--until-decided");
            var (selected, _) = Executor.Select(pipeline, options); // selector errors before anything starts
            var facts = setup.Facts(parse);
            var pool = EngineSetup.Devices(parse.GetValue(devices), facts.GetFacts(), parse.GetValue(jobs));
            pipeline = await setup.PinWeightsAsync(parse, registry, pipeline, selected, loggers.CreateLogger("weights"), shutdown.Token);
            options = options with { Jobs = parse.GetValue(jobs) ?? pool.Slots.Count };
            AnsiConsole.MarkupLine($"[bold]fusion run[/] {Markup.Escape(pipeline.File)}{(pipeline.Profile is null ? "" : $" --profile {Markup.Escape(pipeline.Profile)}")} · store {Markup.Escape(store.Location)} · " +
                                   Markup.Escape(string.Join(", ", facts.GetFacts().Values.Select(f => $"{f.Key} {f.Value}"))) +
                                   $" · devices {Markup.Escape(string.Join(",", pool.Slots.Select(d => d.Name)))}");
            Task<RunRecord> RunOnce(Pipeline p, IReadOnlyList<string> overrides, CancellationToken ct) => ExecuteAsync(setup, store, registry, facts, loggers, pool, p, options with { Overrides = overrides }, interactive, ct);
            RunRecord run;
            if (sequential)
            {
                var path = EngineSetup.ResolvePipelinePath(parse.GetValue(setup.Pipeline));
                var outcome = await new Fusion.Reproduction.Seeds.UntilDecided(o => PipelineLoader.Load(path, registry, parse.GetValue(setup.Profile), o), RunOnce)
                    .RunAsync(options.Overrides, parse.GetValue(maxSeeds), budgetTime,
                        ShowLook,
                        shutdown.Token);
                run = outcome.Run;
                WriteRun(run);
                ShowStop(outcome);
                if (shutdown.Token.IsCancellationRequested) return ExitCodes.Interrupted;
            }
            else
            {
                run = await RunOnce(pipeline, options.Overrides, shutdown.Token);
                WriteRun(run);
            }
            return run.State switch { RunState.Succeeded => ExitCodes.Ok, RunState.Interrupted => ExitCodes.Interrupted, _ => FailureReport.WriteFailedRun(run) };
        });
        return cmd;
    }

    /// <summary>Runs <paramref name="pipeline"/> in this process with the console's progress display (bars when interactive, lines otherwise).</summary>
    internal static async Task<RunRecord> ExecuteAsync(EngineSetup setup, IArtifactStore store, Fusion.Workflow.Stages.StageRegistry registry,
        Fusion.Workflow.Stages.IEnvironmentFactsProvider facts, ILoggerFactory loggers, DevicePool pool, Pipeline pipeline, RunOptions options, bool interactive, CancellationToken ct)
    {
        if (!interactive)
        {
            var plain = new ConsoleRunObserver(null);
            setup.OnTransfer = plain.Transfer;
            return await new Executor(store, registry, facts, loggers, plain, pool).RunAsync(pipeline, options, ct);
        }
        ConsoleRunObserver? observer = null;
        return await AnsiConsole.Progress().AutoClear(true).HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ConsoleRunObserver.MeterColumn(t => observer?.MeterText(t) ?? ""), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                observer = new ConsoleRunObserver(ctx);
                setup.OnTransfer = observer.Transfer;
                return await new Executor(store, registry, facts, loggers, observer, pool).RunAsync(pipeline, options, ct);
            });
    }

    internal static bool IsInteractive => Interactive;

    /// <summary>"90m", "2h", "45s", "1.5h" or a TimeSpan ("1:30:00"); anything else is a usage error naming the option.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        var t = text.Trim();
        if (t.Length > 1 && double.TryParse(t[..^1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 && double.IsFinite(n))
            switch (t[^1])
            {
                case 's': return TimeSpan.FromSeconds(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'd': return TimeSpan.FromDays(n);
            }
        if (TimeSpan.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero) return span;
        throw new PipelineException($"'{text}' is not a duration (e.g. 90m, 2h, 45s or 1:30:00)", SourceLocation.CommandLine, "--budget");
    }

    private static Command Plan()
    {
        var setup = new EngineSetup();
        var only = new Option<string[]>("--only") { Description = "plan only this node or stage" };
        var until = new Option<string[]>("--until") { Description = "plan this node or stage and its upstream" };
        var force = new Option<string[]>("--force") { Description = "show this node or stage as forced ('all' for every node)" };
        var verify = new Option<bool>("--verify") { Description = "check SHA-256 of committed outputs" };
        var cmd = new Command("plan", "Dry run: every node as cached / will run / stale, and why (which part of its fingerprint changed).") { only, until, force, verify };
        setup.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            await using var store = setup.OpenStore(parse);
            var registry = setup.Registry(parse);
            var pipeline = setup.LoadPipeline(parse, registry);
            var options = new RunOptions { Only = parse.GetValue(only) ?? [], Until = parse.GetValue(until) ?? [], Force = parse.GetValue(force) ?? [], Verify = parse.GetValue(verify) };
            using var loggers = LoggerFactory.Create(_ => { });
            var plan = await new Executor(store, registry, setup.Facts(parse), loggers).PlanAsync(pipeline, options, ct);
            var table = new Table { Border = TableBorder.Simple }.AddColumns("node", "kind", "fingerprint", "decision", "why");
            foreach (var e in plan)
            {
                var color = e.Status switch { PlanStatus.Cached => "green", PlanStatus.Stale => "yellow", _ => "blue" };
                table.AddRow(Markup.Escape(e.Node.Id), Markup.Escape(e.Node.Definition.Kind), e.Node.Short, $"[{color}]{e.Describe()}[/]", Markup.Escape(string.Join("\n", e.Reasons)));
            }
            AnsiConsole.Write(table);
            var toRun = plan.Count(e => e.Status != PlanStatus.Cached);
            AnsiConsole.MarkupLine($"{plan.Count} nodes: {plan.Count - toRun} cached, {toRun} to run · store {Markup.Escape(store.Location)}");
            return 0;
        });
        return cmd;
    }

    private static Command Status()
    {
        var runArg = new Argument<string?>("run") { Arity = ArgumentArity.ZeroOrOne, Description = "run id or prefix (omit to list runs)" };
        var store = new Option<string?>("--store") { Description = "artifact store: a folder (default .fusion/) or azure://ACCOUNT/CONTAINER[/PREFIX]" };
        var limit = new Option<int>("--last", "-n") { Description = "how many runs to list", DefaultValueFactory = _ => 20 }.Within(new() { Min = 1 });
        var cmd = new Command("status", "Runs from the run ledger, or one run's nodes with their state and timings.") { runArg, store, limit };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var s = await ArtifactStores.OpenAsync(parse.GetValue(store), ct: ct);
            var documents = new EngineDocuments(s);
            if (parse.GetValue(runArg) is { } id)
            {
                // An unreadable ledger document throws, naming its file (exit 3).
                if (await documents.FindRunIdAsync(id, ct) is not { } found || await documents.GetRunAsync(found, ct) is not { } run)
                {
                    Console.Error.WriteLine($"error: no run '{id}' in {s.Location}");
                    return ExitCodes.Usage;
                }
                WriteRun(run);
                return 0;
            }
            // The listing survives damaged documents: each is shown as such and named below the table.
            var problems = new List<string>();
            var pins = await documents.ReadPinsAsync(ct);
            if (pins.Error is { } badPins) problems.Add($"{badPins.Message}; pins are not shown, and gc refuses to run until it is repaired or removed");
            var table = new Table { Border = TableBorder.Simple }.AddColumns("run", "pipeline", "state", "started (UTC)", "duration", "ran", "cached", "failed");
            foreach (var runId in (await documents.ListRunsAsync(ct)).Take(parse.GetValue(limit)))
            {
                var read = await documents.ReadRunAsync(runId, ct);
                if (read.Error is { } bad)
                {
                    table.AddRow(Markup.Escape(runId), "?", "[red]unreadable[/]", "", "", "", "", "");
                    problems.Add(bad.Message);
                    continue;
                }
                if (read.Value is not { } r) continue;
                table.AddRow(Markup.Escape(r.RunId) + (pins.Value?.Contains(r.RunId) == true ? " 📌" : ""), Markup.Escape(r.Pipeline + (r.Profile is null ? "" : $" ({r.Profile})")), StateMarkup(r),
                    r.StartedUtc.ToString("yyyy-MM-dd HH:mm:ss"), ProgressMeter.Format((r.FinishedUtc ?? DateTimeOffset.UtcNow) - r.StartedUtc),
                    r.Nodes.Count(n => n.State == NodeState.Ran).ToString(), r.Nodes.Count(n => n.State == NodeState.Cached).ToString(),
                    r.Nodes.Count(n => n.State is NodeState.Failed or NodeState.Interrupted).ToString());
            }
            AnsiConsole.Write(table);
            foreach (var problem in problems) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(problem)}");
            return 0;
        });
        return cmd;
    }

    private static Command Gc()
    {
        var setup = new EngineSetup();
        var dryRun = new Option<bool>("--dry-run") { Description = "list what would be deleted" };
        var grace = new Option<double>("--grace-hours") { Description = "keep artifacts committed within this many hours", DefaultValueFactory = _ => 1 }.Within(new() { Min = 0 });
        var folder = new Option<string?>("--pipelines") { Description = "folder of pipeline files whose plans are kept (default pipelines/)" };
        var cmd = new Command("gc", "Delete artifacts that no current plan of pipelines/*.yaml (any profile), no live run and no pinned run references.") { dryRun, grace, folder };
        setup.AddTo(cmd, withPipeline: false);
        cmd.SetAction(async (parse, ct) =>
        {
            await using var store = setup.OpenStore(parse);
            var registry = setup.Registry(parse);
            var facts = setup.Facts(parse).GetFacts();
            var dir = parse.GetValue(folder) ?? EngineSetup.PipelinesFolder();
            var keep = new HashSet<string>(StringComparer.Ordinal);
            var files = dir is null ? [] : Directory.GetFiles(dir, "*.yaml").Order(StringComparer.Ordinal).ToArray();
            foreach (var file in files)
            {
                // A pipeline that does not load stops gc: its artifacts must not be collected by accident.
                var plain = PipelineLoader.Load(file, registry);
                foreach (var profile in plain.Profiles.Prepend(null))
                    keep.UnionWith(Fingerprinter.Compute(PipelineLoader.Load(file, registry, profile), registry, facts).Values.Select(n => n.Fingerprint));
            }
            var dry = parse.GetValue(dryRun);
            var report = await GarbageCollector.CollectAsync(store, keep, TimeSpan.FromHours(parse.GetValue(grace)), dry, ct);
            foreach (var live in report.LiveRuns)
                AnsiConsole.MarkupLine($"run {Markup.Escape(live.RunId)} is live ({Markup.Escape(live.Host)}, pid {live.ProcessId}, since {live.StartedUtc:yyyy-MM-dd HH:mm}): its {live.Fingerprints.Count} fingerprints are kept");
            foreach (var expired in report.ExpiredRuns)
                AnsiConsole.MarkupLine($"run {Markup.Escape(expired)}: its claim expired (the run ended without withdrawing it, e.g. killed); it protects nothing now");
            if (report.HeldBack.Count > 0)
            {
                foreach (var why in report.HeldBack) AnsiConsole.MarkupLine($"[red]{Markup.Escape(why)}[/]");
                AnsiConsole.MarkupLine($"[red]gc deleted nothing[/]: what these need is unknown, so all {report.Kept} artifacts are kept. Restore the document, or `fusion unpin RUN` a pin that is no longer wanted.");
                return ExitCodes.Failed;
            }
            foreach (var m in report.Deleted)
                AnsiConsole.MarkupLine($"{(dry ? "would delete" : "deleted")} {m.Fingerprint[..12]} {Markup.Escape(m.Info.NodeId)} ({Bytes(m.TotalBytes)}, committed {m.CommittedUtc:yyyy-MM-dd HH:mm})");
            AnsiConsole.MarkupLine($"{(dry ? "would free" : "freed")} {Bytes(report.BytesFreed)} in {report.Deleted.Count} artifacts; kept {report.Kept} " +
                                   $"(plans of {files.Length} pipeline files in {Markup.Escape(dir ?? "(no pipelines/ folder)")}, live runs, pinned runs and the grace period)" +
                                   (report.LeftoverFolders > 0 ? $"; removed {report.LeftoverFolders} leftover staging/scratch folders" : ""));
            // Uploads of commits that failed or lost a race and could not clean up after themselves.
            if (report.LeftoverUploads is { Folders.Count: > 0 } stale)
                AnsiConsole.MarkupLine($"{(dry ? "would remove" : "removed")} {stale.Folders.Count} leftover upload folders ({Bytes(stale.Bytes)})");
            return 0;
        });
        return cmd;
    }

    private static IEnumerable<Command> Pins()
    {
        foreach (var pin in new[] { true, false })
        {
            var runArg = new Argument<string?>("run") { Arity = pin ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne, Description = "run id or prefix" };
            var store = new Option<string?>("--store") { Description = "artifact store: a folder (default .fusion/) or azure://ACCOUNT/CONTAINER[/PREFIX]" };
            var cmd = pin
                ? new Command("pin", "Keep a run's artifacts from gc (without RUN: list pinned runs).") { runArg, store }
                : new Command("unpin", "Let gc collect a run's artifacts again.") { runArg, store };
            cmd.SetAction(async (parse, ct) =>
            {
                await using var s = await ArtifactStores.OpenAsync(parse.GetValue(store), ct: ct);
                var documents = new EngineDocuments(s);
                // An unreadable pins.json throws naming its file: rewriting it would drop the other pins.
                var pins = (await documents.GetPinsAsync(ct)).ToList();
                if (parse.GetValue(runArg) is not { } id)
                {
                    foreach (var p in pins) AnsiConsole.WriteLine(p);
                    return 0;
                }
                if (!pin && pins.Remove(id))
                {
                    // By its exact id: a pin whose run document is gone or unreadable must still be removable.
                    await documents.SetPinsAsync(pins, ct);
                    AnsiConsole.MarkupLine($"unpinned {Markup.Escape(id)}");
                    return 0;
                }
                if (await documents.FindRunIdAsync(id, ct) is not { } runId)
                {
                    Console.Error.WriteLine($"error: no run '{id}' in {s.Location}");
                    return ExitCodes.Usage;
                }
                if (pin)
                {
                    // Pinning keeps the run's nodes, so the run must be readable (an unreadable one throws, naming its file).
                    var run = (await documents.GetRunAsync(runId, ct))!;
                    pins.Add(run.RunId);
                    await documents.SetPinsAsync(pins, ct);
                    AnsiConsole.MarkupLine($"pinned {run.RunId} ({run.Nodes.Count} nodes)");
                }
                else
                {
                    pins.Remove(runId);
                    await documents.SetPinsAsync(pins, ct);
                    AnsiConsole.MarkupLine($"unpinned {runId}");
                }
                return 0;
            });
            yield return cmd;
        }
    }

    /// <summary>
    /// `fusion submit`: the run goes to the workers of a task hub (`fusion worker --distributed`, any number of machines)
    /// instead of this process; the command waits, records the run in the ledger under its id and prints it. Stopping
    /// the command does not stop the run: submitting the same id again attaches to it.
    /// </summary>
    private static Command Submit()
    {
        var setup = new EngineSetup();
        var runId = new Option<string?>("--run-id") { Description = "run id (default PIPELINE-yyyyMMdd-HHmmss); an id already on the hub attaches to that run" };
        var config = new Option<string?>("--config") { Description = "worker configuration JSON whose Worker:Distributed names the hub; --Worker:Distributed:KEY=VALUE overrides it" };
        var hours = new Option<double>("--timeout-hours") { Description = "stop waiting after this long (the run goes on)", DefaultValueFactory = _ => 168 }.Within(new() { Above = 0 });
        var untilDecided = new Option<bool>("--until-decided") { Description = "add training seeds one look at a time (each look a run RUN-ID-seedsK on the hub) until every headline quality claim is decided, as `run --until-decided` does" };
        var maxSeeds = new Option<int>("--max-seeds") { Description = "with --until-decided: the most seeds to train", DefaultValueFactory = _ => 8 }.Within(new() { Min = 1 });
        var budget = new Option<string?>("--budget") { Description = "with --until-decided: stop adding seeds when the next one would end past this much wall time (e.g. 90m, 2h)" };
        var cmd = new Command("submit", "Run a pipeline on the workers of a Durable Task hub instead of this process, and wait for it.") { runId, config, hours, untilDecided, maxSeeds, budget };
        setup.AddTo(cmd);
        ConfigurationSettings.Accept(cmd, "Worker");   // --Worker:Distributed:… settings (submit reads no other section)
        cmd.SetAction(async (parse, ct) =>
        {
            using var loggers = LoggerFactory.Create(b => b.AddProvider(new CliLoggerProvider(false, LogLevel.Information)).SetMinimumLevel(LogLevel.Information));
            await using var store = setup.OpenStore(parse);
            var registry = setup.Registry(parse);
            var pipeline = setup.LoadPipeline(parse, registry);   // errors before anything is submitted
            var sequential = parse.GetValue(untilDecided);
            var budgetTime = parse.GetValue(budget) is { } b ? ParseDuration(b) : (TimeSpan?)null;
            if (!sequential && (budgetTime is not null || parse.GetResult(maxSeeds) is { Implicit: false }))
                throw new PipelineException("--max-seeds and --budget belong to --until-decided", SourceLocation.CommandLine, "--until-decided");
            pipeline = await setup.PinWeightsAsync(parse, registry, pipeline, pipeline.Nodes.Select(n => n.Id).ToHashSet(StringComparer.Ordinal), loggers.CreateLogger("weights"), ct);
            var hub = Fusion.Worker.Hosting.WorkerHost.LoadOptions([.. parse.UnmatchedTokens], parse.GetValue(config)).Distributed;
            var id = parse.GetValue(runId) ?? $"{pipeline.Name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
            AnsiConsole.MarkupLine($"[bold]fusion submit[/] {Markup.Escape(pipeline.File)} as run {Markup.Escape(id)} to task hub {Markup.Escape(hub.TaskHub)} · store {Markup.Escape(store.Location)}");
            var launcher = new Fusion.Worker.Engine.DistributedEngineRunLauncher(store, registry, setup.Facts(parse), loggers, hub, TimeSpan.FromHours(parse.GetValue(hours)));
            var documents = new EngineDocuments(store);

            // One run on the hub, recorded in the ledger under its id; its nodes carry their artifacts' summaries.
            async Task<(RunRecord? Record, Fusion.Worker.Runs.RunOutcome Outcome)> SubmitAsync(string runIdOfLook, IReadOnlyList<string> overrides, CancellationToken token)
            {
                var byKey = overrides.Select(PipelineLoader.SplitOverride).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
                var outcome = await launcher.RunAsync(new Fusion.Worker.Runs.RunRequest(runIdOfLook, pipeline.File, byKey, pipeline.Profile), token);
                if (await documents.GetRunAsync(runIdOfLook, CancellationToken.None) is not { } record) return (null, outcome);
                for (var i = 0; i < record.Nodes.Count; i++)
                    if (record.Nodes[i] is { Summary: null, State: NodeState.Ran or NodeState.Cached } n && (await store.GetManifestAsync(n.Fingerprint, ct: token)).Manifest is { } m)
                        record.Nodes[i] = n with { Summary = m.Info.Summary };
                return (record, outcome);
            }
            try
            {
                if (sequential)
                {
                    var path = EngineSetup.ResolvePipelinePath(parse.GetValue(setup.Pipeline));
                    var outcome = await new Fusion.Reproduction.Seeds.UntilDecided(o => PipelineLoader.Load(path, registry, parse.GetValue(setup.Profile), o),
                        async (p, overrides, token) =>
                        {
                            var seeds = Fusion.Reproduction.Seeds.UntilDecided.SeedStage(p).Seeds.Count;
                            var look = await SubmitAsync($"{id}-seeds{seeds}", overrides, token);
                            if (look.Outcome.Error is not null) AnsiConsole.MarkupLine($"[red]{Markup.Escape(look.Outcome.Error)}[/]");
                            return look.Record ?? throw new InvalidOperationException($"run {id}-seeds{seeds} left no ledger record");
                        }).RunAsync(parse.GetValue(setup.Params) ?? [], parse.GetValue(maxSeeds), budgetTime,
                        ShowLook,
                        ct);
                    WriteRun(outcome.Run);
                    ShowStop(outcome);
                    return outcome.Run.State == RunState.Succeeded ? ExitCodes.Ok : ExitCodes.Failed;
                }
                var (record, result) = await SubmitAsync(id, parse.GetValue(setup.Params) ?? [], ct);
                if (record is not null) WriteRun(record);
                if (result.Error is not null) AnsiConsole.MarkupLine($"[red]{Markup.Escape(result.Error)}[/]");
                return result.State == Fusion.Worker.Runs.RunState.Succeeded ? ExitCodes.Ok : ExitCodes.Failed;
            }
            catch (OperationCanceledException)
            {
                AnsiConsole.MarkupLine($"[yellow]stopped waiting; run {Markup.Escape(id)} goes on on the hub (attach with --run-id {Markup.Escape(id)})[/]");
                return ExitCodes.Interrupted;
            }
        });
        return cmd;
    }

    private static void ShowLook(int seeds, int undecided) =>
        AnsiConsole.MarkupLine($"[bold]look[/] {seeds} seed{(seeds == 1 ? "" : "s")}: {(undecided == 0 ? "[green]every headline quality claim decided[/]" : $"{undecided} headline quality claim(s) undecided")}");

    private static void ShowStop(Fusion.Reproduction.Seeds.SequentialOutcome outcome) =>
        AnsiConsole.MarkupLine($"[bold]stopped[/] after {outcome.Seeds} seed{(outcome.Seeds == 1 ? "" : "s")}: {Markup.Escape(outcome.Reason)}");

    internal static void WriteRun(RunRecord run)
    {
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle($"run {run.RunId} · {Markup.Escape(run.Pipeline)} · {StateMarkup(run)}") }
            .AddColumns("node", "state", "fingerprint", "device", "time", "note");
        foreach (var n in run.Nodes)
        {
            var note = n.Error ?? (n.Reasons is { Count: > 0 } r ? string.Join("; ", r) : "");
            if (n.Summary is { Count: > 0 } summary) note = string.Join(", ", summary.Select(kv => $"{kv.Key}={kv.Value}")) + (note.Length > 0 ? "; " + note : "");
            var color = n.State switch { NodeState.Ran or NodeState.Cached => "green", NodeState.Interrupted or NodeState.Skipped => "yellow", _ => "red" };
            table.AddRow(Markup.Escape(n.NodeId), $"[{color}]{n.State.ToString().ToLowerInvariant()}[/]", n.Fingerprint[..12], Markup.Escape(n.Device ?? ""),
                ProgressMeter.Format(TimeSpan.FromSeconds(n.Seconds)), Markup.Escape(note));
        }
        AnsiConsole.Write(table);
    }

    private static string StateMarkup(RunRecord r)
    {
        var state = r.State;
        var word = state.ToString().ToLowerInvariant();
        if (state == RunState.Running && r.Host == Environment.MachineName && !ProcessAlive(r.ProcessId)) return "[red]abandoned (its process is gone)[/]";
        return state switch { RunState.Succeeded => $"[green]{word}[/]", RunState.Running => $"[blue]{word}[/]", RunState.Interrupted => $"[yellow]{word}[/]", _ => $"[red]{word}[/]" };
    }

    private static bool ProcessAlive(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }

    private static string Bytes(long n) => n >= 1 << 30 ? $"{n / (double)(1 << 30):F1} GiB" : n >= 1 << 20 ? $"{n / (double)(1 << 20):F1} MiB" : n >= 1 << 10 ? $"{n / 1024.0:F1} KiB" : $"{n} B";
}

/// <summary>
/// Ctrl-C and SIGTERM cancel <see cref="Token"/> once (the running node checkpoints and stops, the ledger records
/// "interrupted"); a second Ctrl-C ends the process at once.
/// </summary>
public sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource source = new();
    private readonly PosixSignalRegistration? sigterm;
    private int presses;

    public ShutdownSignal()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        if (!OperatingSystem.IsWindows()) sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Stop("SIGTERM"); });
    }

    public CancellationToken Token => source.Token;

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (Interlocked.Increment(ref presses) > 1) return; // second Ctrl-C: let the runtime end the process
        e.Cancel = true;
        Stop("Ctrl-C");
    }

    private void Stop(string what)
    {
        Console.Error.WriteLine($"{what}: stopping — the running node saves its checkpoint; press Ctrl-C again to abort at once");
        source.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        sigterm?.Dispose();
        source.Dispose();
    }
}

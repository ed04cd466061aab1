using System.CommandLine;
using Fusion.Artifacts.Store;
using Fusion.Worker.Distributed;
using Fusion.Worker.Documents;
using Fusion.Worker.Engine;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Fusion.Worker.Scheduling;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Hosting;

/// <summary>What the worker needs from the engine, opened by the CLI exactly as <c>fusion run</c> opens it.
/// <paramref name="Devices"/> builds the device pool of Worker:Distributed:Devices (null = every visible GPU, or one CPU
/// slot per concurrent node) for that many concurrent nodes; without it nodes run on the facts' device.</summary>
/// <param name="Devices">The device pool for a --devices-like list and a node count (null: the machine's default).</param>
public sealed record WorkerEngine(IArtifactStore Store, StageRegistry Registry, IEnvironmentFactsProvider Environment, Func<string?, int?, DevicePool>? Devices = null);

/// <summary>
/// The <c>fusion worker</c> and <c>fusion baseline</c> commands. <c>open</c> returns the store, stage registry and
/// environment facts for the parsed command line; <c>addOptions</c> adds the options it reads (the CLI's engine options:
/// --store, --plugin, --device, --dtype).
/// </summary>
public static class WorkerCommands
{
    /// <summary>How long a distributed scheduled run may take before the launcher gives up waiting (the run goes on).</summary>
    public static readonly TimeSpan DistributedRunTimeout = TimeSpan.FromDays(7);

    public static Command Worker(Func<ParseResult, WorkerEngine> open, Action<Command>? addOptions = null)
    {
        var config = new Option<string?>("--config") { Description = "worker configuration JSON (besides ./appsettings.json; environment and --Worker:… settings override it)" };
        var distributed = new Option<bool>("--distributed") { Description = "start scheduled runs on the task hub and execute its nodes (Worker:Distributed)" };
        var cmd = new Command("worker", "Hosted worker: nightly schedules with regression checks; with --distributed, a node worker of a task hub.") { config, distributed };
        addOptions?.Invoke(cmd);
        cmd.TreatUnmatchedTokensAsErrors = false;   // --Worker:Section:Key=value settings go to the configuration
        cmd.SetAction(async (parse, ct) =>
        {
            var builder = WorkerHost.CreateBuilder([.. parse.UnmatchedTokens], parse.GetValue(config), parse.GetValue(distributed) ? true : null);
            var engine = open(parse);
            await using (engine.Store)
            {
                AddEngine(builder.Services, engine);
                using var host = builder.Build();
                // Before the host starts: its start failure would be logged with every stack, then thrown again.
                if (host.Services.GetService<DistributedOptions>() is { Enabled: true } hub) await TaskHub.EnsureReachableAsync(hub, ct);
                // SIGTERM / Ctrl-C: the host stops its services (the running run or node checkpoints), then returns.
                await host.RunAsync(ct);
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>Registers the engine adapters: documents in the store, metrics from the ledger, the launcher and node executor.</summary>
    public static void AddEngine(IServiceCollection services, WorkerEngine engine)
    {
        services.AddSingleton(engine.Store);
        services.AddSingleton<IRunMetricsSource>(sp => new LedgerMetricsSource(engine.Store, sp.GetRequiredService<IDocumentStore>()));
        // One pool per worker process: its concurrent nodes (MaxConcurrentNodes) take distinct devices.
        services.AddSingleton<INodeExecutor>(sp => new EngineNodeExecutor(engine.Store, engine.Registry, engine.Environment, sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<WorkerOptions>().Distributed is { } d ? engine.Devices?.Invoke(d.Devices, d.MaxConcurrentNodes) : null));
        services.AddSingleton<IRunLauncher>(sp => sp.GetRequiredService<WorkerOptions>().Distributed is { Enabled: true } d
            ? new DistributedEngineRunLauncher(engine.Store, engine.Registry, engine.Environment, sp.GetRequiredService<ILoggerFactory>(), d, DistributedRunTimeout)
            : new EngineRunLauncher(engine.Store, engine.Registry, engine.Environment, sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<IDocumentStore>(),
                engine.Devices?.Invoke(null, null)));
    }

    public static Command Baseline(Func<ParseResult, WorkerEngine> open, Action<Command>? addOptions = null)
    {
        var run = new Argument<string>("run") { Description = "run id (e.g. nightly-2026-11-26)" };
        var name = new Option<string?>("--name") { Description = "baseline name (default: the schedule that started the run)" };
        var config = new Option<string?>("--config") { Description = "worker configuration JSON with Worker:Regression rules" };

        var runs = new Argument<string[]>("runs") { Description = "run ids; every seed of a seed axis (evaluate[v/seed=N]) and every run is one replicate, and their spread sets the Spreads tolerances (one nightly run of three seeds is enough)", Arity = ArgumentArity.OneOrMore };
        var bless = new Command("bless", "Store the metrics of RUNS (their mean, standard deviation and values) as the baseline that later runs are compared to.") { runs, name };
        bless.SetAction((parse, ct) => Guard(async () =>
        {
            await using var engine = new EngineLease(open(parse));
            var (docs, metrics) = Open(engine.Engine);
            var runIds = parse.GetValue(runs)!;
            var baseline = await new Baselines(docs).BlessAsync(await NameAsync(docs, runIds[0], parse.GetValue(name), ct), runIds, metrics, ct);
            Print(baseline);
            return 0;
        }));

        var check = new Command("check", "Compare RUN to its baseline now; exit code 0 only when it passes.") { run, name, config };
        check.SetAction((parse, ct) => Guard(async () =>
        {
            await using var engine = new EngineLease(open(parse));
            var (docs, metrics) = Open(engine.Engine);
            var runId = parse.GetValue(run)!;
            var options = WorkerHost.LoadOptions([], parse.GetValue(config));
            var report = await new RegressionReporter(docs, metrics, new DocumentRunStatusWriter(docs), options.Regression)
                .CheckAsync(runId, await NameAsync(docs, runId, parse.GetValue(name), ct), ct);
            Console.WriteLine(report.ToMarkdown());
            return report.Passed ? 0 : 1;
        }));

        var showName = new Argument<string>("name") { Description = "baseline name" };
        var show = new Command("show", "Print a baseline's metrics.") { showName };
        show.SetAction(async (parse, ct) =>
        {
            await using var engine = new EngineLease(open(parse));
            var (docs, _) = Open(engine.Engine);
            var baseline = await new Baselines(docs).GetAsync(parse.GetValue(showName)!, ct);
            if (baseline is null) { Console.Error.WriteLine($"no baseline '{parse.GetValue(showName)}'"); return 2; }
            Print(baseline);
            return 0;
        });

        foreach (var c in new[] { bless, check, show }) addOptions?.Invoke(c);
        return new Command("baseline", "Blessed baselines of the nightly regression check.") { bless, check, show };
    }

    private static void Print(Baseline baseline)
    {
        Console.WriteLine($"baseline '{baseline.Name}' = {baseline.Description}{(baseline.Pipeline is { } p ? $" of {p}" : "")}, blessed {baseline.BlessedUtc:yyyy-MM-dd HH:mm} UTC by {baseline.BlessedBy}:");
        foreach (var (metric, value) in baseline.Metrics)
        {
            var spread = baseline.SpreadOf(metric);
            Console.WriteLine(FormattableString.Invariant($"  {metric} = {value.Value:G6}{(spread.Sd is { } sd ? $" ± {sd:G4}" : "")} {value.Unit} (n = {spread.N})"));
        }
    }

    /// <summary>Disposes the opened store when a command is done with it.</summary>
    private sealed class EngineLease(WorkerEngine engine) : IAsyncDisposable
    {
        public WorkerEngine Engine => engine;
        public ValueTask DisposeAsync() => engine.Store.DisposeAsync();
    }

    /// <summary>Bad input (unknown run, no metrics, bad configuration) is a one-line message and exit code 2, not a stack trace.</summary>
    private static async Task<int> Guard(Func<Task<int>> action)
    {
        try { return await action(); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException or FileNotFoundException)
        {
            Console.Error.WriteLine("fusion baseline: " + e.Message);
            return 2;
        }
    }

    private static (IDocumentStore Documents, IRunMetricsSource Metrics) Open(WorkerEngine engine)
    {
        var docs = new ArtifactStoreDocuments(engine.Store);
        return (docs, new LedgerMetricsSource(engine.Store, docs));
    }

    /// <summary>The explicit name, else the schedule that claimed the run.</summary>
    public static async Task<string> NameAsync(IDocumentStore documents, string runId, string? name, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(name)) return name;
        var claim = await new RunClaims(documents, "cli").GetClaimAsync(runId, 1, ct);
        return claim?.Schedule ?? throw new ArgumentException($"run '{runId}' was not started by a schedule; name the baseline with --name");
    }
}

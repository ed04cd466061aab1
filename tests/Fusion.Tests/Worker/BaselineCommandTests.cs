using System.CommandLine;
using Fusion.Artifacts.Store.Local;
using Fusion.Tests.Support;
using Fusion.Worker.Documents;
using Fusion.Worker.Engine;
using Fusion.Worker.Hosting;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Worker;

/// <summary>Scheduled runs on the engine's in-process executor, metrics from its ledger, and `fusion baseline bless|check`.</summary>
public sealed class BaselineCommandTests
{
    private const string PipelineYaml = """
        stages:
          data:
            kind: echo
            params: {text: data}
          eval:
            kind: echo
            inputs: {from: data}
            params: {text: eval, metric: "fid=20.5 FID"}
        """;

    private const string Rules = """
        { "Worker": { "Regression": { "Metrics": { "*.fid": { "Better": "Lower", "Absolute": 0.5 } } } } }
        """;

    [Fact]
    public async Task Bless_then_check_flags_an_injected_regression_and_passes_an_unchanged_rerun()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["nightly.yaml"], PipelineYaml);
        File.WriteAllText(dir["worker.json"], Rules);
        await using var store = new LocalArtifactStore(dir["store"]);
        var engine = new WorkerEngine(store, EchoStage.Registry(), new FixedEnvironmentFacts(EnvironmentFacts.Of(("device", "cpu"))));
        // The command disposes the store it opens, as the CLI's does: give it its own instance on the same folder.
        WorkerEngine Open(ParseResult _) => engine with { Store = new LocalArtifactStore(dir["store"]) };
        var launcher = new EngineRunLauncher(engine.Store, engine.Registry, engine.Environment, NullLoggerFactory.Instance, new ArtifactStoreDocuments(store));
        async Task Run(string runId, Dictionary<string, string> overrides) =>
            Assert.Equal(RunState.Succeeded, (await launcher.RunAsync(new RunRequest(runId, dir["nightly.yaml"], overrides), CancellationToken.None)).State);
        var root = new RootCommand { WorkerCommands.Baseline(Open) };
        Task<int> Cli(params string[] args) => root.Parse(args).InvokeAsync();

        await Run("nightly-2026-11-25", []);
        var metrics = await new LedgerMetricsSource(store, new ArtifactStoreDocuments(store)).GetMetricsAsync("nightly-2026-11-25", default);
        Assert.Equal(new MetricValue(20.5, "FID"), Assert.Single(metrics!).Value);
        Assert.Equal("eval.fid", metrics!.Single().Key);
        Assert.Equal(0, await Cli("baseline", "bless", "nightly-2026-11-25", "--name", "nightly"));
        Assert.Equal(0, await Cli("baseline", "show", "nightly"));

        await Run("nightly-2026-11-26", new() { ["eval.metric"] = "fid=23.0 FID" });   // injected regression
        Assert.Equal(1, await Cli("baseline", "check", "nightly-2026-11-26", "--name", "nightly", "--config", dir["worker.json"]));
        var status = new DocumentRunStatusWriter(new ArtifactStoreDocuments(store));
        Assert.Equal("regressed", (await status.GetAsync("nightly-2026-11-26", default))!.Status);

        await Run("nightly-2026-11-27", []);                                           // unchanged rerun (all cached)
        Assert.Equal(0, await Cli("baseline", "check", "nightly-2026-11-27", "--name", "nightly", "--config", dir["worker.json"]));
        Assert.Equal("passed", (await status.GetAsync("nightly-2026-11-27", default))!.Status);

        await Run("nightly-2026-11-28", new() { ["eval.metric"] = "" });               // the metric disappeared
        Assert.Equal(1, await Cli("baseline", "check", "nightly-2026-11-28", "--name", "nightly", "--config", dir["worker.json"]));
        Assert.Equal("incomparable", (await status.GetAsync("nightly-2026-11-28", default))!.Status);

        Assert.Equal(2, await Cli("baseline", "bless", "no-such-run", "--name", "nightly"));
        Assert.Equal(2, await Cli("baseline", "check", "nightly-2026-11-27"));          // not started by a schedule: needs --name
    }

    [Fact]
    public async Task The_cli_commands_read_the_store_option_like_the_engine_commands()
    {
        using var dir = new TempDir();
        var root = new RootCommand();
        foreach (var command in Fusion.Cli.WorkerCliCommands.Build()) root.Subcommands.Add(command);
        Assert.Equal(2, await root.Parse(["baseline", "show", "nightly", "--store", dir["store"]]).InvokeAsync());
        await using (var store = new LocalArtifactStore(dir["store"]))
        {
            var metrics = new Dictionary<string, MetricValue> { ["fid"] = new(20.5, "FID") };
            await new Fusion.Worker.Regression.Baselines(new ArtifactStoreDocuments(store)).BlessAsync("nightly", ["r1"], new Fixed(metrics));
        }
        Assert.Equal(0, await root.Parse(["baseline", "show", "nightly", "--store", dir["store"]]).InvokeAsync());
        Assert.Empty(root.Parse(["worker", "--distributed", "--store", dir["store"], "--device", "cpu", "--Worker:Distributed:TaskHub=pool1"]).Errors);
    }

    private sealed class Fixed(Dictionary<string, MetricValue> metrics) : IRunMetricsSource
    {
        public Task<IReadOnlyDictionary<string, MetricValue>?> GetMetricsAsync(string runId, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, MetricValue>?>(metrics);

        public Task<string?> GetPipelineAsync(string runId, CancellationToken ct) => Task.FromResult<string?>("nightly");
    }
}

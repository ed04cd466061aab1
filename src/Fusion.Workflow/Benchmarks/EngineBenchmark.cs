using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fusion.Artifacts.Store.Local;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Workflow.Benchmarks;

/// <summary>
/// `fusion bench engine [-s nodes=50] [-s repeats=5]`: load + fingerprint + plan, and a fully cached run, of a
/// generated pipeline (a source, chains of 4-variant stages, a gather) with trivial stage kinds on a local store
/// in a temp folder. Goals: plan &lt; 1 s, cached run &lt; 2 s for 50 nodes.
/// </summary>
public static class EngineBenchmark
{
    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        var nodes = options.TryGetValue("nodes", out var n) ? int.Parse(n, CultureInfo.InvariantCulture) : 50;
        var repeats = options.TryGetValue("repeats", out var r) ? int.Parse(r, CultureInfo.InvariantCulture) : 5;
        var root = Directory.CreateTempSubdirectory("fusion-bench-").FullName;
        try
        {
            var yaml = Generate(nodes);
            var file = Path.Combine(root, "bench.yaml");
            File.WriteAllText(file, yaml);
            var registry = new StageRegistry().Add(new SourceStage()).Add(new StepStage()).Add(new GatherStage());
            var facts = new FixedEnvironmentFacts(EnvironmentFacts.Of(("torchsharp", "0"), ("libtorch", "0"), ("device", "cpu"), ("dtype", "float32")));
            var store = new LocalArtifactStore(Path.Combine(root, "store"));
            var executor = new Executor(store, registry, facts, NullLoggerFactory.Instance);

            double Time(Action action)
            {
                var clock = Stopwatch.StartNew();
                action();
                return clock.Elapsed.TotalMilliseconds;
            }
            double Median(Func<double> measure) => Enumerable.Range(0, repeats).Select(_ => measure()).Order().ElementAt(repeats / 2);

            var pipeline = PipelineLoader.Load(file, registry);
            var planCold = Median(() => Time(() => executor.PlanAsync(PipelineLoader.Load(file, registry), new RunOptions()).GetAwaiter().GetResult()));
            var firstRun = Time(() => Check(executor.RunAsync(pipeline, new RunOptions()).GetAwaiter().GetResult(), NodeState.Ran));
            var planCached = Median(() => Time(() => executor.PlanAsync(PipelineLoader.Load(file, registry), new RunOptions()).GetAwaiter().GetResult()));
            var cachedRun = Median(() => Time(() => Check(executor.RunAsync(PipelineLoader.Load(file, registry), new RunOptions()).GetAwaiter().GetResult(), NodeState.Cached)));
            return
            [
                ("nodes", pipeline.Nodes.Count, "nodes"),
                ("load + plan, nothing cached (median)", planCold, "ms"),
                ("first run, all nodes compute", firstRun, "ms"),
                ("load + plan, all cached (median)", planCached, "ms"),
                ("load + run, all cached (median)", cachedRun, "ms"),
                ("cached run per node", cachedRun / pipeline.Nodes.Count, "ms"),
            ];
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    private static void Check(RunRecord run, NodeState expected)
    {
        if (run.Nodes.Any(x => x.State != expected)) throw new InvalidOperationException($"benchmark run {run.RunId}: expected every node {expected}");
    }

    /// <summary>A source, then chains of 4-variant "step" stages (each variant takes its own upstream variant), then a gather.</summary>
    public static string Generate(int nodes)
    {
        var chain = Math.Max(1, (nodes - 2) / 4);
        var yaml = new StringBuilder("stages:\n  source: {kind: bench-source, params: {size: 64}}\n");
        for (var i = 0; i < chain; i++)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"  step{i}:\n    kind: bench-step\n    params: {{salt: {i}, rate: 0.5}}\n");
            yaml.Append(i == 0 ? "    variants: {a: {mode: 1}, b: {mode: 2}, c: {mode: 3}, d: {mode: 4}}\n" : $"    variants: step0\n");
            yaml.Append(CultureInfo.InvariantCulture, $"    inputs: {{up: {(i == 0 ? "source" : $"step{i - 1}")}}}\n");
        }
        yaml.Append(CultureInfo.InvariantCulture, $"  gather: {{kind: bench-gather, inputs: {{parts: \"step{chain - 1}[*]\"}}}}\n");
        return yaml.ToString();
    }

    private sealed record SourceParams
    {
        public int Size { get; init; } = 16;
    }

    private sealed class SourceStage : StageKind<SourceParams>
    {
        public override string Name => "bench-source";
        public override string CodeVersion => "1";
        public override IReadOnlyList<string> Outputs => ["data.bin"];

        public override Task RunAsync(StageContext context, SourceParams p) => File.WriteAllBytesAsync(context.OutputPath("data.bin"), new byte[p.Size]);
    }

    private sealed record StepParams
    {
        public int Salt { get; init; }
        public double Rate { get; init; }
        public int Mode { get; init; }
    }

    private sealed class StepStage : StageKind<StepParams>
    {
        public override string Name => "bench-step";
        public override string CodeVersion => "1";
        public override IReadOnlyList<StageInput> Inputs => [new("up")];
        public override IReadOnlyList<string> Outputs => ["data.bin"];

        public override async Task RunAsync(StageContext context, StepParams p)
        {
            var bytes = await File.ReadAllBytesAsync(await context.Input("up").GetPathAsync("data.bin"));
            for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)(bytes[i] + p.Salt + p.Mode);
            await File.WriteAllBytesAsync(context.OutputPath("data.bin"), bytes);
        }
    }

    private sealed record GatherParams
    {
        public bool Sum { get; init; } = true;
    }

    private sealed class GatherStage : StageKind<GatherParams>
    {
        public override string Name => "bench-gather";
        public override string CodeVersion => "1";
        public override IReadOnlyList<StageInput> Inputs => [new("parts", Many: true)];

        public override async Task RunAsync(StageContext context, GatherParams p)
        {
            long total = 0;
            foreach (var input in context.Inputs["parts"]) total += (await File.ReadAllBytesAsync(await input.GetPathAsync("data.bin"))).Sum(b => (long)b);
            await File.WriteAllTextAsync(context.OutputPath("sum.txt"), total.ToString(CultureInfo.InvariantCulture));
        }
    }
}

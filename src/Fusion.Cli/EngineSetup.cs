using System.CommandLine;
using System.Reflection;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Models;
using Fusion.Reproduction.Weights;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>The options every engine command shares, and what they build: store, stage registry, facts, pipeline.</summary>
public sealed class EngineSetup
{
    public const string DefaultPipeline = "pipelines/shapes.yaml";

    public readonly Argument<string?> Pipeline = new("pipeline") { Arity = ArgumentArity.ZeroOrOne, Description = $"pipeline file, or a name in pipelines/ (default {DefaultPipeline})" };
    public readonly Option<string?> Profile = new("--profile") { Description = "profile of the pipeline file (e.g. tiny)" };
    public readonly Option<string[]> Params = new("--param", "-p") { Description = "override a param: stage.param=value or stage[variant].param=value", AllowMultipleArgumentsPerToken = false };
    public readonly Option<string?> Store = new("--store") { Description = "artifact store: a folder (default .fusion/ in the working directory, or $FUSION_STORE) or azure://ACCOUNT/CONTAINER[/PREFIX]" };
    public readonly Option<string[]> Plugins = new("--plugin") { Description = "assembly with extra stage kinds (also $FUSION_PLUGINS, ':'-separated)" };
    public readonly Option<string> Device = new("--device") { Description = "cpu, cuda, cuda:N or auto", DefaultValueFactory = _ => "auto" };
    public readonly Option<string> Dtype = new("--dtype") { Description = "compute dtype the stages use: float32, bfloat16, or auto (bfloat16 on CUDA and on CPUs with native bf16 dot products, else float32)", DefaultValueFactory = _ => "float32" };
    public readonly Option<bool> Deterministic = new("--deterministic") { Description = "CUDA: deterministic kernels (slower), so two runs give the same bytes (CPU runs already do)" };

    public EngineSetup()
    {
        // Checked when the command line is parsed, so a typo stops the command before it opens a store or loads anything.
        Device.Validators.Add(r => { if (r.GetValueOrDefault<string>() is { } d && !TorchEnvironment.IsDeviceName(d)) r.AddError($"--device must be {TorchEnvironment.DeviceNames}, got '{d}'"); });
        Dtype.Validators.Add(r => { if (r.GetValueOrDefault<string>() is { } t && !TorchFacts.Dtypes.Contains(t)) r.AddError($"--dtype must be {TorchFacts.DtypeNames}, got '{t}'"); });
    }

    public void AddTo(Command command, bool withPipeline = true)
    {
        if (withPipeline) command.Arguments.Add(Pipeline);
        foreach (var o in new Option[] { Profile, Params, Store, Plugins, Device, Dtype, Deterministic }) command.Options.Add(o);
    }

    public IArtifactStore OpenStore(ParseResult parse)
    {
        // Opening a blob store checks its credentials at once; the CLI opens it once per command.
        var options = new BlobStoreOptions { TransferProgress = (blob, done, total) => OnTransfer?.Invoke(blob, done, total) };
        return ArtifactStores.OpenAsync(parse.GetValue(Store), options).GetAwaiter().GetResult();
    }

    /// <summary>Where a blob store's transfers report (set once the display exists, which is after the store opens).</summary>
    public Action<string, long, long>? OnTransfer { get; set; }

    public StageRegistry Registry(ParseResult parse)
    {
        var registry = new StageRegistry();
        foreach (var name in new[] { "Fusion.Reproduction", "Fusion.Datasets" })
            registry.AddAssembly(Assembly.Load(name));
        var fromEnv = (Environment.GetEnvironmentVariable("FUSION_PLUGINS") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var plugin in fromEnv.Concat(parse.GetValue(Plugins) ?? [])) registry.AddPlugin(plugin);
        return registry;
    }

    public IEnvironmentFactsProvider Facts(ParseResult parse)
    {
        var deterministic = parse.GetValue(Deterministic);
        // Here because every engine command builds its facts before any torch work, and the switch must come first.
        if (deterministic) TorchEnvironment.UseDeterministicAlgorithms();
        return new TorchFacts(parse.GetValue(Device) ?? "auto", parse.GetValue(Dtype) ?? "float32", deterministic);
    }

    /// <summary>
    /// Where `run` places concurrent torch nodes: the <c>--devices</c> list (<paramref name="spec"/>), else every visible
    /// GPU on CUDA, else one CPU slot per job (<paramref name="jobs"/>; without it one per core). CPU slots share the
    /// intra-op thread count's cores: a node that uses every core runs alone, nodes that declare one thread run side by
    /// side (<see cref="NodeThreads"/>).
    /// </summary>
    public static DevicePool Devices(string? spec, EnvironmentFacts facts, int? jobs)
    {
        var gpus = facts.Device == "cuda" ? (int)TorchSharp.torch.cuda.device_count() : 0;
        var cores = NodeThreads.Machine(facts);
        return spec is null ? DevicePool.Default(facts.Device, gpus, jobs ?? cores ?? 1, cores) : DevicePool.Parse(spec, facts.Device, gpus, cores);
    }

    /// <summary>The pipeline file: the argument (a path, or a name in pipelines/), else pipelines/shapes.yaml here or at the repository root.</summary>
    public static string ResolvePipelinePath(string? argument)
    {
        var wanted = argument ?? DefaultPipeline;
        if (File.Exists(wanted)) return wanted;
        var candidates = new List<string> { Path.GetFullPath(wanted) };
        if (!wanted.Contains('/') && !wanted.EndsWith(".yaml", StringComparison.Ordinal)) candidates.Add(Path.GetFullPath(Path.Combine("pipelines", wanted + ".yaml")));
        if (!Path.IsPathRooted(wanted) && RepoRoot() is { } root)
        {
            candidates.Add(Path.Combine(root, wanted));
            if (!wanted.Contains('/')) candidates.Add(Path.Combine(root, "pipelines", wanted.EndsWith(".yaml", StringComparison.Ordinal) ? wanted : wanted + ".yaml"));
        }
        foreach (var c in candidates) if (File.Exists(c)) return c;
        var hint = argument is null
            ? " — the default shapes pipeline comes with the paper's stage kinds; until it exists, pass a pipeline file (fusion run path/to/pipeline.yaml)"
            : "";
        throw new PipelineException($"pipeline '{wanted}' does not exist (looked for {string.Join(", ", candidates.Distinct())}){hint}");
    }

    /// <summary>The pipelines/ folder gc plans from: here, else at the repository root.</summary>
    public static string? PipelinesFolder() =>
        Directory.Exists("pipelines") ? Path.GetFullPath("pipelines")
        : RepoRoot() is { } root && Directory.Exists(Path.Combine(root, "pipelines")) ? Path.Combine(root, "pipelines") : null;

    private static string? RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Fusion.Pipeline.sln"))) return dir.FullName;
        return null;
    }

    public Pipeline LoadPipeline(ParseResult parse, StageRegistry registry) =>
        PipelineLoader.Load(ResolvePipelinePath(parse.GetValue(Pipeline)), registry, parse.GetValue(Profile), parse.GetValue(Params) ?? []);

    /// <summary>
    /// Pins the weights that the <paramref name="selected"/> nodes need and their lock does not pin yet (see
    /// <see cref="WeightsPinning"/>), says what it wrote and that it is to be committed, and loads the pipeline again
    /// so its nodes carry the pins.
    /// </summary>
    public async Task<Pipeline> PinWeightsAsync(ParseResult parse, StageRegistry registry, Pipeline pipeline, IReadOnlySet<string> selected, ILogger logger, CancellationToken ct)
    {
        var pinned = (await WeightsPinning.PinAsync(pipeline, selected, logger, ct)).Where(p => p.Filled.Count > 0).ToList();
        foreach (var (path, filled) in pinned)
        {
            AnsiConsole.MarkupLine($"[bold]pinned[/] {filled.Count} weight file(s) in {Markup.Escape(path)}; commit it, so that every run fetches exactly these files:");
            foreach (var f in filled)
                AnsiConsole.MarkupLine(Markup.Escape($"  {f.Key}{(f.Revision is null ? "" : $" @ {f.Revision}")}  {f.Size} bytes  sha256 {f.Sha256}"));
        }
        return pinned.Count > 0 ? LoadPipeline(parse, registry) : pipeline;
    }
}

/// <summary>
/// Environment facts from TorchSharp: versions of TorchSharp and libtorch, the device type, the dtype, on the CPU its kernel
/// family, thread count and convolution policy, and "deterministic" when deterministic kernels were asked for (absent
/// otherwise, so other fingerprints stay as they were).
/// </summary>
public sealed class TorchFacts(string device, string dtype, bool deterministic = false) : IEnvironmentFactsProvider
{
    /// <summary>The compute dtypes --dtype takes.</summary>
    public static readonly IReadOnlyList<string> Dtypes = ["float32", "bfloat16", "float16", "float64", "auto"];

    public static string DtypeNames => string.Join(", ", Dtypes.SkipLast(1)) + " or " + Dtypes[^1];

    private EnvironmentFacts? facts;

    public EnvironmentFacts GetFacts()
    {
        if (!Dtypes.Contains(dtype))
            throw new PipelineException($"unknown dtype '{dtype}' (expected {DtypeNames})", SourceLocation.CommandLine, "--dtype");
        var type = TorchEnvironment.ResolveDevice(device).type.ToString().ToLowerInvariant();
        // The resolved dtype is the fact: an auto run on a bf16 CPU and one on an AVX2 CPU have different fingerprints.
        var resolved = dtype == "auto" ? TorchEnvironment.FastTrainingDtype(type) : dtype;
        (string, string)[] all =
        [
            ("torchsharp", TorchEnvironment.TorchSharpVersion),
            ("libtorch", TorchEnvironment.LibTorchVersion),
            (EnvironmentFacts.DeviceKey, type),
            (EnvironmentFacts.DtypeKey, resolved),
        ];
        // On the CPU the last bits depend on the kernel family, the intra-op thread count and how convolutions run.
        var cpu = type == "cpu" ? TorchEnvironment.CpuFacts() : [];
        return facts ??= EnvironmentFacts.Of([.. all, .. cpu, .. deterministic ? [("deterministic", "true")] : Array.Empty<(string, string)>()]);
    }
}

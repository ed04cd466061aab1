using System.Text.Json;
using System.Xml.Linq;
using Fusion.Tests.Support;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Tests.Workflow;

/// <summary>
/// The versions of the packages that compute a stage's bytes are part of its fingerprint: a bump reruns exactly the
/// stages that compute with that package (and what is downstream of them, through their inputs), and no recipe moves.
/// </summary>
public sealed class PackageFingerprintTests
{
    private static StageRegistry Registry() => new StageRegistry()
        .AddAssembly(typeof(Fusion.Reproduction.Stages.TrainStage).Assembly)
        .AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);

    private static readonly EnvironmentFacts Facts = EnvironmentFacts.Of(("torchsharp", "0.107.0"), ("libtorch", "2.10.0"), ("device", "cpu"), ("dtype", "float32"));

    private static Pipeline Load(string name, StageRegistry registry) => PipelineLoader.Load(Path.Combine(Fixtures.RepoRoot, "pipelines", name + ".yaml"), registry);

    [Theory]
    [InlineData("shapes", "Markdig", "report")]
    [InlineData("shapes", "MathNet.Numerics", "report")]
    [InlineData("shapes", "HarfBuzzSharp", "report")]                 // ScottPlot's text shaping
    [InlineData("shapes", "SkiaSharp", "report,sample")]
    [InlineData("shapes", "Google.Protobuf", "train")]                // the artifact's TensorBoard event file
    [InlineData("shapes", "Snappier", "evaluate-shapes,measure,report,sample,shapes-clip,shapes-data,shapes-encode,train")]   // Parquet.Net's
    [InlineData("paper", "SixLabors.ImageSharp", "coco-encode-images,coco-fid-reference")]
    [InlineData("paper", "TorchSharp.PyBridge", "coco-encode-captions,coco-encode-images,coco-evaluate,coco-fid-reference,sample,train")]
    [InlineData("paper", "Parquet.Net", "coco-download,coco-encode-captions,coco-encode-images,coco-evaluate,coco-fid-reference,measure,report,sample,train")]
    public void Bumping_a_package_changes_exactly_the_stages_that_compute_with_it(string pipelineName, string package, string kinds)
    {
        var registry = Registry();
        var pipeline = Load(pipelineName, registry);
        var was = Facts.Packages.Packages[package].Version;
        var before = Fingerprinter.Compute(pipeline, registry, Facts);
        var after = Fingerprinter.Compute(pipeline, registry, Facts with { Packages = Facts.Packages.With(package, was + ".1") });

        var changedOwn = pipeline.Nodes.Where(n => !Own(before[n.Id]).SequenceEqual(Own(after[n.Id]))).ToList();
        Assert.Equal(kinds.Split(','), changedOwn.Select(n => n.Kind).Distinct().Order(StringComparer.Ordinal));
        foreach (var node in changedOwn)
        {
            var reasons = Fingerprinter.Explain(before[node.Id].Parts, after[node.Id]);
            var bump = $"package {package}: {was} → {was}.1";
            Assert.Contains(bump, reasons);
            Assert.All(reasons.Where(r => r != bump), r => Assert.StartsWith("upstream ", r));
        }
        // Every other node keeps its fingerprint unless an input changed; no recipe moves (package versions are builds).
        var changed = new HashSet<string>(changedOwn.Select(n => n.Id));
        foreach (var node in pipeline.Nodes)
        {
            if (node.Inputs.Values.SelectMany(ids => ids).Any(changed.Contains)) changed.Add(node.Id);
            Assert.Equal(changed.Contains(node.Id), before[node.Id].Fingerprint != after[node.Id].Fingerprint);
            Assert.Equal(before[node.Id].Recipe, after[node.Id].Recipe);
        }
    }

    private static IEnumerable<KeyValuePair<string, string>> Own(PlannedNode node) => node.Parts.Where(p => !p.Key.StartsWith("input.", StringComparison.Ordinal));

    [Fact]
    public void A_stage_fingerprints_the_packages_it_names_with_everything_they_depend_on()
    {
        var report = Fingerprinter.Parts(Registry().Get("report"), new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<string>>(), Facts);
        var packages = Facts.Packages.Packages;
        foreach (var id in new[] { "Parquet.Net", "Snappier", "Markdig", "ScottPlot", "SkiaSharp", "HarfBuzzSharp", "MathNet.Numerics" })
            Assert.Equal(packages[id].Version, report["package." + id]);
        Assert.DoesNotContain(report.Keys, k => k.Contains("TorchSharp", StringComparison.Ordinal) || k.Contains("ImageSharp", StringComparison.Ordinal));
        var fetch = Fingerprinter.Parts(Registry().Get("fetch-weights"), new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<string>>(), Facts);
        Assert.DoesNotContain(fetch.Keys, k => k.StartsWith("package.", StringComparison.Ordinal));
        Assert.Contains("'No.Such.Package' is not among", Assert.Throws<InvalidOperationException>(() => Facts.Packages.Closure(["No.Such.Package"])).Message);
    }

    /// <summary>The versions come from the host's .deps.json: the ones this project's packages.lock.json resolved.</summary>
    [Fact]
    public void The_versions_are_the_ones_the_lock_file_resolved()
    {
        using var lockFile = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "tests", "Fusion.Tests", "packages.lock.json")));
        var locked = lockFile.RootElement.GetProperty("dependencies").GetProperty("net10.0").EnumerateObject()
            .Where(p => p.Value.GetProperty("type").GetString() != "Project")
            .ToDictionary(p => p.Name, p => p.Value.GetProperty("resolved").GetString(), StringComparer.OrdinalIgnoreCase);
        var running = PackageVersions.OfThisProcess.Packages;
        Assert.True(running.Count > 50, $"only {running.Count} packages read from the host's .deps.json");
        foreach (var (id, package) in running)
            Assert.True(locked.TryGetValue(id, out var version) && version == package.Version, $"{id} runs at {package.Version}, the lock file has {version ?? "nothing"}");
    }

    /// <summary>
    /// Every centrally pinned package either computes some stage's bytes (a stage names it, or a package a stage names
    /// depends on it) or is listed here with why it cannot change them: a new package must take a side.
    /// </summary>
    [Fact]
    public void Every_pinned_package_is_either_fingerprinted_or_known_not_to_change_artifact_bytes()
    {
        string[] notComputing =
        [
            "TorchSharp", "libtorch-cpu-linux-x64", "TorchSharp-cuda-linux",   // environment facts torchsharp and libtorch
            "Azure.Storage.Blobs", "Azure.Identity", "Polly.Core",               // the store moves bytes (content digests check them)
            "YamlDotNet",                                                          // what it parses enters fingerprints as params
            "Microsoft.Azure.DurableTask.Core", "Microsoft.Azure.DurableTask.AzureStorage", "Azure.Storage.Queues", "System.Reactive.Core",
            "System.Reactive.Compatibility", "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging.Abstractions", "Cronos",   // orchestration
            "Spectre.Console", "System.CommandLine",                              // the command line
            "Microsoft.NET.Test.Sdk", "xunit", "xunit.runner.visualstudio", "Microsoft.CodeAnalysis.CSharp", "PuppeteerSharp", "WebDriverBiDi",   // tests
        ];
        var pinned = XDocument.Load(Path.Combine(Fixtures.RepoRoot, "Directory.Packages.props")).Descendants("PackageVersion")
            .Select(e => (string)e.Attribute("Include")!).ToList();
        var fingerprinted = Registry().Kinds.SelectMany(k => Facts.Packages.Closure(k.Packages)).Select(p => p.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        static void None(IEnumerable<string> ids, string what) { var l = ids.ToList(); Assert.True(l.Count == 0, $"{what}: {string.Join(", ", l)}"); }
        None(pinned.Where(id => !fingerprinted.Contains(id) && !notComputing.Contains(id)), "pinned, but no stage names it and it is not listed here");
        None(notComputing.Where(fingerprinted.Contains), "listed here, but a stage computes with it");
        None(notComputing.Where(id => !pinned.Contains(id)), "listed here, but not pinned");
    }
}

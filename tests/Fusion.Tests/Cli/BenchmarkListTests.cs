using System.Reflection;
using Fusion.Cli;

namespace Fusion.Tests.Cli;

/// <summary>`fusion bench` lists its benchmarks by hand; a benchmark that is written but not listed cannot be run.</summary>
public sealed class BenchmarkListTests
{
    [Fact]
    public void Every_benchmark_class_of_the_product_is_listed_under_its_name()
    {
        var listed = Benchmarks.All.Values.Select(run => run.Method).ToHashSet();
        // Every product assembly beside the tests, whether or not the CLI's code mentions it yet.
        var product = Directory.GetFiles(AppContext.BaseDirectory, "Fusion.*.dll")
            .Where(path => Path.GetFileName(path) != typeof(BenchmarkListTests).Assembly.GetName().Name + ".dll")
            .Select(path => Assembly.Load(AssemblyName.GetAssemblyName(path)))
            .Append(typeof(Benchmarks).Assembly)
            .Distinct();
        var classes = product
            .SelectMany(a => a.GetExportedTypes())
            .Where(t => t.IsAbstract && t.IsSealed && t.Name.EndsWith("Benchmark", StringComparison.Ordinal))
            .Select(t => (Type: t, Run: t.GetMethod("Run", BindingFlags.Public | BindingFlags.Static, [typeof(IReadOnlyDictionary<string, string>)])))
            .Where(b => b.Run is not null && b.Run.ReturnType == typeof(IEnumerable<(string, double, string)>))
            .ToList();

        Assert.True(classes.Count >= Benchmarks.All.Count, $"found {classes.Count} benchmark classes, fewer than the {Benchmarks.All.Count} listed");
        Assert.Empty(classes.Where(b => !listed.Contains(b.Run!)).Select(b => b.Type.FullName));
        // The command-line name is the class name without "Benchmark".
        foreach (var (name, run) in Benchmarks.All)
            Assert.Equal(name, run.Method.DeclaringType!.Name[..^"Benchmark".Length], StringComparer.OrdinalIgnoreCase);
    }
}

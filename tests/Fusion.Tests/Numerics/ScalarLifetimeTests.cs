using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Operations;
using System.Xml.Linq;

namespace Fusion.Tests.Numerics;

/// <summary>
/// TorchSharp 0.107 turns a number used with a tensor (<c>x * 0.5</c>, <c>x.clamp(-1, 1)</c>) into a native
/// <c>Scalar</c> that only its finalizer frees, and the JIT may drop the last reference as soon as the handle is read:
/// a garbage collection during the native call frees the scalar the call is still reading. Measured: a loop of
/// <c>x / 1.5</c> beside a thread that collects fails within ~20,000 operations with libtorch's "Expected false to be
/// true" from Scalar::toDouble (a nightly training run died of it after 10 minutes), and a freed scalar can as well be
/// read as another value. Our code therefore never converts implicitly: it creates the scalar with
/// <c>using var s = value.ToScalar()</c> (alive until disposed).
/// </summary>
public sealed class ScalarLifetimeTests
{
    [Fact]
    public void No_source_converts_a_number_to_a_TorchSharp_Scalar_implicitly()
    {
        var found = new List<string>();
        var errors = new List<string>();
        var references = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll")
            .Concat(((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
            .Where(IsManaged).GroupBy(Path.GetFileName).Select(g => MetadataReference.CreateFromFile(g.First())).ToList();
        const string implicitUsings = "global using System; global using System.IO; global using System.Linq; global using System.Collections.Generic; " +
                                      "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        foreach (var project in Directory.GetDirectories(Path.Combine(Fixtures.RepoRoot, "src")))
        {
            var files = Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")).ToList();
            var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f))
                .Append(CSharpSyntaxTree.ParseText(implicitUsings, parse)).ToList();
            // The project as its .csproj builds it: without its own built assembly (named by <AssemblyName> when set),
            // with its package aliases (extern alias X for Include="P" Aliases="X").
            var csproj = XDocument.Load(Directory.EnumerateFiles(project, "*.csproj").Single());
            var own = (csproj.Descendants("AssemblyName").SingleOrDefault()?.Value ?? Path.GetFileName(project)) + ".dll";
            var aliases = csproj.Descendants("PackageReference").Where(r => r.Attribute("Aliases") is not null)
                .ToDictionary(r => r.Attribute("Include")!.Value + ".dll", r => r.Attribute("Aliases")!.Value.Split(','), StringComparer.OrdinalIgnoreCase);
            var projectReferences = references.Where(r => !string.Equals(Path.GetFileName(r.Display), own, StringComparison.OrdinalIgnoreCase))
                .Select(r => aliases.TryGetValue(Path.GetFileName(r.Display)!, out var a) ? r.WithAliases(a) : r);
            var compilation = CSharpCompilation.Create(Path.GetFileName(project), trees, projectReferences,
                new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
            found.AddRange(Hazards(compilation, trees, errors));
        }
        // The scan only sees what binds: a source that did not compile here (a missing reference, a newer language
        // feature) would hide its hazards, and a snippet with one must be caught.
        Assert.True(errors.Count == 0, $"{errors.Count} compile errors in the scanned sources:\n" + string.Join("\n", errors.Take(20)));
        var canary = CSharpSyntaxTree.ParseText("using TorchSharp; static class Canary { static torch.Tensor Half(torch.Tensor t) => t * 0.5; }", parse);
        var canaryErrors = new List<string>();
        var caught = Hazards(CSharpCompilation.Create("Canary", [canary], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)), [canary], canaryErrors);
        Assert.Empty(canaryErrors);
        Assert.Single(caught);
        Assert.True(found.Count == 0, $"{found.Count} implicit number → Scalar conversions (a GC can free them mid-call):\n" + string.Join("\n", found.Distinct()));
    }

    /// <summary>Implicit number → Scalar conversions and hidden-scalar calls in <paramref name="trees"/>; compile errors go to <paramref name="errors"/>.</summary>
    private static List<string> Hazards(CSharpCompilation compilation, IEnumerable<SyntaxTree> trees, List<string> errors)
    {
        var found = new List<string>();
        var scalar = compilation.GetTypeByMetadataName("TorchSharp.Scalar");
        var tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        Assert.NotNull(scalar);
        Assert.NotNull(tensor);
        bool Is(ITypeSymbol? t, INamedTypeSymbol? of) => SymbolEqualityComparer.Default.Equals(t, of);
        // Tensor's operators with a number operand make the scalar inside TorchSharp, with the same hazard.
        bool NumberOperator(IMethodSymbol? m) => m is not null && Is(m.ContainingType, tensor) && m.Parameters.Any(p => p.Type.SpecialType is
            SpecialType.System_Double or SpecialType.System_Single or SpecialType.System_Int32 or SpecialType.System_Int64);
        // TorchSharp methods that make a scalar of their own: add(t) and add_(t) call add(t, 1), add(s) calls add(s, 1),
        // addcdiv(a, b) calls addcdiv(a, b, 1); tensor + tensor is add(t). Their overloads with the scalar are safe.
        bool HiddenScalar(IMethodSymbol? m) => m is not null && Is(m.ContainingType, tensor) && m.Name switch
        {
            "op_Addition" => m.Parameters.All(p => Is(p.Type, tensor)),
            "add" or "add_" => m.Parameters.Length == 1,
            "addcdiv" or "addcdiv_" => m.Parameters.Length == 2,
            _ => false,
        };
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            // Source generators do not run here: their partial methods ([GeneratedRegex], [LibraryImport]) lack a body (CS8795).
            errors.AddRange(model.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS8795").Select(d => d.ToString()));
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                var op = model.GetOperation(node);
                var hazard = op switch
                {
                    { Parent: IConversionOperation { IsImplicit: true, OperatorMethod: { } m } } when Is(m.ContainingType, scalar) => true,
                    IBinaryOperation b => NumberOperator(b.OperatorMethod) || HiddenScalar(b.OperatorMethod),
                    ICompoundAssignmentOperation c => NumberOperator(c.OperatorMethod) || HiddenScalar(c.OperatorMethod),
                    IInvocationOperation i => HiddenScalar(i.TargetMethod),
                    _ => false,
                };
                if (!hazard) continue;
                var line = tree.GetLineSpan(node.Span).StartLinePosition.Line + 1;
                found.Add(tree.FilePath.Length > 0 ? $"{Path.GetRelativePath(Fixtures.RepoRoot, tree.FilePath)}:{line}: {node}" : $"{line}: {node}");
            }
        }
        return found;
    }

    [Fact]
    public void Training_and_sampling_beside_a_collecting_thread_give_the_same_bits()
    {
        var quiet = TrainAndSample(collect: false);
        var collected = TrainAndSample(collect: true);
        Assert.Equal(quiet.Weights, collected.Weights);
        Assert.Equal(quiet.Samples, collected.Samples);
    }

    // A tiny U-ViT: 30 AdamW + EMA steps (v-prediction, min-SNR, caption drop), then DPM-Solver and DDIM samples, with
    // or without a thread that forces a garbage collection and runs the finalizers in a loop all the while.
    private static (float[] Weights, float[] Samples) TrainAndSample(bool collect)
    {
        var config = UViTConfig.Tiny(UViTFusion.IntermediateCross(1, 1));
        using var g = new TorchSharp.torch.Generator(5);
        using var data = TorchSharp.torch.randn([32, config.InChannels, config.ImageSize, config.ImageSize], generator: g);
        using var captions = TorchSharp.torch.randn([32, 1, config.NumClipTokens, config.ClipDim], generator: g);
        using var nullContext = TorchSharp.torch.zeros(config.NumClipTokens, config.ClipDim);
        var train = new TrainConfig { BatchSize = 8, WarmupSteps = 2, EmaWarmup = true, MinSnrGamma = 5, Prediction = Prediction.Velocity, Seed = 7 };
        var stop = false;
        var collector = new Thread(() => { while (!Volatile.Read(ref stop)) { GC.Collect(); GC.WaitForPendingFinalizers(); } }) { IsBackground = true };
        if (collect) collector.Start();
        try
        {
            using var trainer = new Trainer(() => TorchRandom.Seeded(7, () => new Fusion.Models.UViT.UViT(config)), train,
                new InMemoryBatchSource(data, captions, BatchKind.Samples, 7), nullContext);
            for (var i = 0; i < 30; i++) trainer.TrainStep();
            var weights = trainer.Ema.parameters().SelectMany(p => p.detach().flatten().data<float>().ToArray()).ToArray();
            using var context = TorchSharp.torch.randn([2, config.NumClipTokens, config.ClipDim], generator: g);
            var samples = new List<float>();
            using (TorchSharp.torch.no_grad())
                foreach (var options in new[] { new SamplerOptions { Steps = 6 }, new SamplerOptions { Kind = SamplerKind.Ddim, Steps = 6 } })
                    using (var x = DiffusionSampler.Sample(trainer.Ema, context, nullContext, [config.InChannels, config.ImageSize, config.ImageSize], options, 11, prediction: Prediction.Velocity))
                        samples.AddRange(x.flatten().data<float>().ToArray());
            return (weights, samples.ToArray());
        }
        finally
        {
            Volatile.Write(ref stop, true);
            if (collect) collector.Join();
        }
    }

    private static bool IsManaged(string path)
    {
        try { System.Reflection.AssemblyName.GetAssemblyName(path); return true; }
        catch (Exception) { return false; }
    }
}

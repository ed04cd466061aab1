using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Clip;
using Fusion.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

/// <summary>
/// The pipeline's sampler (<see cref="SamplerOptions.Reference"/>: DPM-Solver "fast" with classifier-free guidance) replays
/// the authors' T2I sampling (fixtures/dpm-solver, README there) on tiny U-ViTs: every network evaluation (x, t, guided ε)
/// and the final sample. Variants, cases, steps, scales, network configs and shapes all come from the fixture files, so
/// other fixture sets (seeds, sizes, c/v layouts, step counts, scales) run unchanged.
/// </summary>
public class DpmSolverParityTests(ITestOutputHelper output)
{
    private const string Folder = "dpm-solver";
    private const double Rel = 1e-5;    // README: ε and the sample to 1e-5 · max |reference|
    private const double TimeAbs = 1e-6; // README: t_continuous to 1e-6 absolute

    /// <summary>(file, case) for each case of each fixture file holding a sampling run (those with the shared input x_T).</summary>
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in Directory.GetFiles(Fixtures.Path(Folder), "*.safetensors").Order(StringComparer.Ordinal))
        {
            var keys = TensorNames(path);
            if (!keys.Contains("x_T")) continue;
            foreach (var c in CasePrefixes(keys)) data.Add(Path.GetFileName(path), c);
        }
        return data;
    }

    /// <summary>U-ViT, guidance and solver together from x_T, exactly as the sample stage runs them.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Sampling_replays_the_reference(string file, string @case) => Replay(file, @case, withNetwork: true);

    /// <summary>The solver alone, fed the reference's guided ε in call order: separates solver and schedule from the network.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Solver_replays_the_reference_given_its_eps(string file, string @case) => Replay(file, @case, withNetwork: false);

    private void Replay(string file, string @case, bool withNetwork)
    {
        using var scope = NewDisposeScope();
        var path = Fixtures.Path(Folder, file);
        var meta = SafetensorsMetadata.Read(path);
        var data = StateDict.Read(path);
        var name = $"{Path.GetFileNameWithoutExtension(file)} {@case}";
        // The metadata's case list must be exactly the cases stored, so none goes unchecked.
        var stored = CasePrefixes(data.Keys).ToArray();
        if (meta.TryGetValue("cases", out var listed))
            Assert.True(stored.SequenceEqual(listed.Split(',', StringSplitOptions.TrimEntries).Order(StringComparer.Ordinal)),
                $"{name}: metadata lists cases [{listed}], the file stores [{string.Join(",", stored)}]");
        var (steps, scale) = CaseParameters(meta, @case);
        Tensor Ref(string key) => data[$"{@case}.{key}"];
        // Scale 0 is unguided: the reference skips the unconditional pass, so it stores no ε_u.
        Assert.True(scale != 0 == data.ContainsKey($"{@case}.eval.eps_uncond"), $"{name}: scale {scale} but eps_uncond stored: {scale == 0}");

        // The sample stage's options (the defaults) with this case's number of evaluations and guidance scale.
        var options = SamplerOptions.Reference with { Steps = steps, GuidanceScale = scale };
        var orders = DpmSolver.FastOrders(steps, options.Order);
        Assert.True(orders.SequenceEqual(JsonSerializer.Deserialize<int[]>(meta[$"{@case}.orders"])!),
            $"{name}: reference step orders {meta[$"{@case}.orders"]}, ours [{string.Join(", ", orders)}]");
        // The fixture's own betas; Schedule_is_the_references ties them to the pipeline's.
        var schedule = DiscreteSchedule.FromBetas(ReadScheduleBetas());
        var vp = VPSchedule.From(schedule);

        var failures = new List<string>();
        var worst = new Dictionary<string, double>();
        // Max |ours − ref| against tolerance · scale; failures name the case and the evaluation.
        void Check(string what, int? eval, Tensor ours, Tensor reference, double tolerance, double scaleOf = 1)
        {
            Assert.Equal(reference.shape, ours.shape);
            var err = (ours.to(ScalarType.Float64) - reference.to(ScalarType.Float64)).abs().max().item<double>();
            worst[what] = Math.Max(worst.GetValueOrDefault(what), err / scaleOf);
            if (!(err <= tolerance * scaleOf))   // a NaN error fails too
                failures.Add($"{name}{(eval is { } i ? $" eval {i}" : "")}: {what} max error {err:G3} > {tolerance:G2} · {scaleOf:G3}");
        }
        double MaxAbs(Tensor t) => t.abs().max().item<float>();

        // The reference ends at eps = 1/N with N from the file: the solver's default end must be exactly that.
        if (meta.TryGetValue("N", out var nText)) Assert.Equal(int.Parse(nText, System.Globalization.CultureInfo.InvariantCulture), vp.N);
        Assert.Equal(1f / vp.N, new DpmSolver(vp).EndTime(options));
        Check("grid", null, tensor(vp.TimeGrid(options.TStart, new DpmSolver(vp).EndTime(options), steps, options.Spacing)), Ref("grid"), TimeAbs);

        // Every evaluation the solver asks for, in call order, into buffers shaped like the reference's rows.
        var (refX, refEps, refTime) = (Ref("eval.x"), Ref("eval.eps"), Ref("eval.t_input"));
        var (ourX, ourEps, ourTime) = (zeros_like(refX), zeros_like(refEps), zeros_like(refTime));
        var evals = refX.shape[0];
        var calls = 0;
        using var net = withNetwork ? LoadNetwork(meta) : null;
        var eps = net is null ? (_, _) => refEps[Math.Min(calls, evals - 1)].clone()
            : Guidance.ClassifierFree(net, data["context"], data["null_context"], scale);
        EpsModel recorded = (x, t) =>
        {
            var e = eps(x, t);
            if (calls < evals)
            {
                ourX[calls].copy_(x);
                ourTime[calls].copy_(t);
                ourEps[calls].copy_(e);
            }
            calls++;
            return e;
        };
        using var sample = DiffusionSampler.Run(recorded, data["x_T"], options, schedule);
        Assert.True(calls == evals, $"{name}: {calls} network evaluations, the reference made {evals}");

        var (refT, refAlpha, refSigma) = (Ref("eval.t_continuous"), Ref("eval.alpha"), Ref("eval.sigma"));
        for (var i = 0; i < evals; i++)
        {
            // The network gets the fractional time N·t; the solver's t is that over N.
            Check("t_input", i, ourTime[i], refTime[i], TimeAbs * vp.N);
            Check("t_continuous", i, ourTime[i] / vp.N, refT[i], TimeAbs);
            // α_t, σ_t of our schedule at the reference's own times: the schedule apart from the solver's times.
            var ts = refT[i].data<float>().ToArray();
            Check("alpha", i, tensor(ts.Select(vp.MarginalAlpha).ToArray()), refAlpha[i], TimeAbs);
            Check("sigma", i, tensor(ts.Select(vp.MarginalStd).ToArray()), refSigma[i], TimeAbs);
            Check("x", i, ourX[i], refX[i], Rel, MaxAbs(refX[i]));
            if (withNetwork) Check("eps", i, ourEps[i], refEps[i], Rel, MaxAbs(refEps[i]));
        }
        Check("sample", null, sample, Ref("sample"), Rel, MaxAbs(Ref("sample")));

        output.WriteLine($"{name} (steps {steps}, scale {scale}): " + string.Join(", ", worst.Select(kv => $"{kv.Key} {kv.Value:G3}")) +
                         " (x, eps, sample relative to max |ref|; times, α, σ absolute)");
        Assert.True(failures.Count == 0, $"{failures.Count} mismatch(es) with the reference:\n" + string.Join("\n", failures.Take(40)));
    }

    // The tiny U-ViT of the case's metadata with the weights it names (a path relative to the fixture folder).
    private static Models.UViT.UViT LoadNetwork(IReadOnlyDictionary<string, string> meta)
    {
        var config = UViTConfig.FromReferenceArgs(meta);
        var net = TorchRandom.Unseeded(() => new Models.UViT.UViT(config));
        StateDict.LoadStrict(net, Path.GetFullPath(Path.Combine(Fixtures.Path(Folder), meta["weights"])));
        return net;
    }

    [Fact]
    public void Schedule_is_the_references()
    {
        using var scope = NewDisposeScope();
        var data = StateDict.Read(Fixtures.Path(Folder, "schedule.safetensors"));
        var betas = data["betas"].to(ScalarType.Float64).data<double>().ToArray();
        // The pipeline's schedule. torch.linspace's float64 last bit depends on the CPU's vector path (the reference's
        // matches AVX2 with FMA, ours may not), so float64 agrees to a few ulps; the float32 betas the solver uses are exact.
        var ours = DiscreteSchedule.StableDiffusion(betas.Length).TrainingBetas();
        var relative = betas.Zip(ours).Max(p => Math.Abs(p.First - p.Second) / p.First);
        Assert.True(relative <= 1e-15, $"betas: max relative difference {relative:G3} (more than a few float64 ulps)");
        Assert.Equal(data["betas_f32"].data<float>().ToArray(), ours.Select(b => (float)b));
        // log α at the knots t_k = (k+1)/N of NoiseScheduleVP('discrete'): ½·cumsum(log(1 − β)) in float32.
        var vp = new VPSchedule(ours);
        var knots = data["t_discrete"].data<float>().ToArray();
        var err = (tensor(knots.Select(vp.MarginalLogMeanCoeff).ToArray()) - data["log_alpha_discrete"]).abs().max().item<float>();
        output.WriteLine($"betas: max relative difference {relative:G3}; log α at the knots: max error {err:G3}");
        Assert.True(err <= TimeAbs, $"log α at the knots: max error {err:G3} > {TimeAbs}");
    }

    private static double[] ReadScheduleBetas()
    {
        using var scope = NewDisposeScope();
        return StateDict.Read(Fixtures.Path(Folder, "schedule.safetensors"))["betas"].to(ScalarType.Float64).data<double>().ToArray();
    }

    // Steps and scale from the case's metadata, else from its name sSTEPS_wSCALE.
    private static (int Steps, double Scale) CaseParameters(IReadOnlyDictionary<string, string> meta, string @case)
    {
        var m = Regex.Match(@case, @"^s(\d+)_w(.+)$");
        string Value(string key, int group) => meta.TryGetValue($"{@case}.{key}", out var v) ? v
            : m.Success ? m.Groups[group].Value : throw new InvalidDataException($"case {@case}: no {key} in the metadata or the name");
        return (int.Parse(Value("steps", 1), CultureInfo.InvariantCulture), double.Parse(Value("scale", 2), CultureInfo.InvariantCulture));
    }

    // The cases stored in a file: the prefixes of its PREFIX.sample tensors.
    private static IEnumerable<string> CasePrefixes(IEnumerable<string> keys) =>
        keys.Where(k => k.EndsWith(".sample", StringComparison.Ordinal)).Select(k => k[..^".sample".Length]).Order(StringComparer.Ordinal);

    private static HashSet<string> TensorNames(string path)
    {
        using var scope = NewDisposeScope();
        return [.. StateDict.Read(path).Keys];
    }
}

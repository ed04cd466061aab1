using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fusion.Models.Diffusion;
using Fusion.Models.UViT;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

/// <summary>
/// The trainer replays the authors' <c>train_step</c> (fixtures/train-step, README there) on tiny U-ViTs from the given
/// draws (drop mask, posterior noise, n, ε): latents, noised inputs, loss, step-1 gradients, LR warm-up, AdamW state, the
/// weights and the EMA after the last step. Steps, batch size, network, hyper-parameters and the checked parameters all
/// come from each file, so other fixture sets run unchanged.
/// </summary>
public partial class TrainStepParityTests(ITestOutputHelper output)
{
    private const string Folder = "train-step";

    public static TheoryData<string> Files() =>
        new(Directory.GetFiles(Fixtures.Path(Folder), "*.safetensors").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Files))]
    public void Trainer_replays_the_reference_steps(string file)
    {
        using var scope = NewDisposeScope();
        var path = Fixtures.Path(Folder, file);
        var meta = SafetensorsMetadata.Read(path);
        var data = StateDict.Read(path);
        var name = Path.GetFileNameWithoutExtension(file);
        int Int(string key) => int.Parse(meta[key], CultureInfo.InvariantCulture);
        double Real(string key) => double.Parse(meta[key], CultureInfo.InvariantCulture);
        var (steps, batch) = (Int("n_steps"), Int("batch"));
        Assert.True(data["moments"].shape.Take(2).SequenceEqual([steps, batch]), $"{name}: moments [{string.Join(", ", data["moments"].shape)}] for {steps} steps of {batch}");
        // Only what the port implements: plain AdamW, the warm-up LambdaLR, no clipping (the reference's, where unstated).
        string Stated(string key, string reference) => meta.TryGetValue(key, out var v) ? v : reference;
        Assert.Equal(("False", "customized", "none"), (Stated("amsgrad", "False"), Stated("lr_scheduler", "customized"), Stated("grad_clip", "none")));

        // The initial weights: the U-ViT fixture the metadata names (relative to this folder), else the variant's.
        var weightsPath = meta.TryGetValue("weights", out var w) ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, w))
            : Fixtures.Path("uvit", $"{meta["variant"]}.weights.safetensors");
        var initial = StateDict.Read(weightsPath);
        var network = UViTConfig.FromReferenceArgs(SafetensorsMetadata.Read(weightsPath));
        var optimizer = JsonDocument.Parse(meta["optimizer"]).RootElement;
        Assert.Equal("adamw", optimizer.GetProperty("name").GetString());
        var betas = optimizer.GetProperty("betas").EnumerateArray().Select(b => b.GetDouble()).ToArray();
        var config = new TrainConfig
        {
            BatchSize = batch, LearningRate = optimizer.GetProperty("lr").GetDouble(), WeightDecay = optimizer.GetProperty("weight_decay").GetDouble(),
            Beta1 = betas[0], Beta2 = betas[1], AdamEps = Real("adamw_eps"), WarmupSteps = Int("warmup_steps"), EmaRate = Real("ema_rate"),
            PUncond = Real("p_uncond"), LatentScale = Real("scale_factor"), DiffusionSteps = Int("N"), LogEvery = 1, SaveEvery = 0,
            // The rest of the reference's recipe, stated rather than inherited from defaults a pipeline may change:
            // stable_diffusion_beta_schedule, ε-prediction, plain ε-MSE, EMA from the initial copy, constant lr after
            // the warm-up, float32.
            BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012, Prediction = Prediction.Epsilon,
            MinSnrGamma = 0, EmaWarmup = false, CosineDecaySteps = 0, Precision = TrainPrecision.Float32,
        };
        using var trainer = new Trainer(() =>
        {
            var m = new Models.UViT.UViT(network);
            StateDict.LoadStrict(m, initial, weightsPath);
            return m;
        }, config, new ReplayedBatches(data["moments"], data["captions"]), data["null_context"]);

        var failures = new List<string>();
        var worst = new SortedDictionary<string, double>(StringComparer.Ordinal);
        // Max |ours − reference| against tolerance · scale; the worst error per kind (over scale) goes to the output.
        void Check(string kind, string what, Tensor ours, Tensor reference, double tolerance, double scale = 1)
        {
            if (!ours.shape.SequenceEqual(reference.shape))
            {
                failures.Add($"{name} {what}: shape [{string.Join(", ", ours.shape)}], reference [{string.Join(", ", reference.shape)}]");
                return;
            }
            var err = (ours.to(ScalarType.Float64) - reference.to(ScalarType.Float64)).abs().max().item<double>();
            worst[kind] = Math.Max(worst.GetValueOrDefault(kind), err / scale);
            if (!(err <= tolerance * scale)) failures.Add($"{name} {what}: max error {err:G3} > {tolerance:G2} · {scale:G3}");
        }
        void CheckRelative(string kind, string what, Tensor ours, Tensor reference, double tolerance) =>
            Check(kind, what, ours, reference, tolerance, Math.Max(MaxAbs(reference), 1e-30));

        var ourParams = trainer.Model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var ourGrads = new Dictionary<string, Tensor>();
        for (var s = 0; s < steps; s++)
        {
            var step = $"step {s + 1}";
            Tensor At(string key) => data[key][s];
            // The caption drop is `u < p_uncond`, our generator's rule, here fed the reference's u.
            var drop = At("u") < config.PUncond;
            Assert.True(drop.equal(At("drop").to(ScalarType.Bool)).all().item<bool>(), $"{name} {step}: u < {config.PUncond} is not the fixture's drop mask");

            // The functions the step uses, on the reference's inputs.
            var x0 = Trainer.LatentSample(At("moments"), At("z_noise"), config.LatentScale);
            CheckRelative("x0", $"{step} x0", x0, At("x0"), 1e-6);
            var (coefX0, coefEps) = trainer.Schedule.Coefficients(At("n"), ScalarType.Float32);
            CheckRelative("coef", $"{step} coef_x0", coefX0, At("coef_x0"), 1e-6);
            CheckRelative("coef", $"{step} coef_eps", coefEps, At("coef_eps"), 1e-6);
            CheckRelative("xn", $"{step} xn", trainer.Schedule.AddNoise(x0, At("n"), At("eps")), At("xn"), 1e-6);

            var log = trainer.TrainStep(new StepDraws(drop, At("z_noise"), At("n"), At("eps")));
            CheckRelative("loss", $"{step} loss", tensor(log.Loss), At("loss"), 1e-5);
            // The LR schedule is float64 arithmetic in both: exact.
            if (log.LearningRate != At("lr_applied").item<double>() || config.LearningRateAt(s + 1) != At("lr_logged").item<double>())
                failures.Add($"{name} {step}: lr {log.LearningRate:R} (next {config.LearningRateAt(s + 1):R}), reference {At("lr_applied").item<double>():R} (next {At("lr_logged").item<double>():R})");
            if (s == 0)
                foreach (var (k, p) in ourParams) if (p.grad is { } g) ourGrads[k] = g.clone();
        }

        var selected = meta["selected"].Split(',', StringSplitOptions.TrimEntries);
        var state = trainer.OptimizerState();
        // Every tensor stored under a prefix is checked (by parameter name); the required names must be among them.
        void CheckAll(string prefix, IEnumerable<string> required, Action<string, string, Tensor> check)
        {
            var stored = data.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Select(k => k[prefix.Length..]).ToHashSet();
            var missing = required.Where(k => !stored.Contains(k)).ToList();
            if (missing.Count > 0) failures.Add($"{name}: no {prefix}* for {string.Join(", ", missing)}");
            foreach (var k in stored.Order(StringComparer.Ordinal)) check(k, prefix + k, data[prefix + k]);
        }
        // A parameter moves ~lr per step, far below its own magnitude: its change must match too, to 1 % of the largest
        // change. A change is a difference of nearly equal float32 numbers, so it cannot be closer than its operands'
        // rounding: the bound is never below a few ulps of the operands' magnitude (8 · 2⁻²³ · max |value|).
        void CheckMoved(string kind, string key, Tensor ours, Tensor reference, Tensor start)
        {
            Check(kind, key, ours, reference, 2e-6);
            var change = MaxAbs(reference - start);
            var operands = Math.Max(MaxAbs(reference), MaxAbs(start));
            Check(kind + " − param0", key + " − param0", ours - start, reference - start, 1e-2,
                Math.Max(Math.Max(change, 8 * Float32Epsilon * operands / 1e-2), 1e-30));
        }
        // Results are stored after the last step under param{S}., ema{S}., …: every such prefix must name S.
        foreach (var k in data.Keys)
            if (ResultPrefix().Match(k) is { Success: true } m && int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) != steps)
                failures.Add($"{name}: '{k}' is stored for step {m.Groups[2].Value}, the file has n_steps = {steps}");
        var ema = trainer.Ema.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        CheckAll("grad1.", selected, (k, key, reference) => CheckRelative("grad1", key, ourGrads[k], reference, 1e-4));
        CheckAll($"param{steps}.", ourParams.Keys, (k, key, reference) => CheckMoved($"param{steps}", key, ourParams[k], reference, initial[k]));
        CheckAll($"ema{steps}.", selected, (k, key, reference) => CheckMoved($"ema{steps}", key, ema[k], reference, initial[k]));
        CheckAll($"exp_avg{steps}.", selected, (k, key, reference) => CheckRelative($"exp_avg{steps}", key, state[k + ".exp_avg"], reference, 1e-4));
        CheckAll($"exp_avg_sq{steps}.", selected, (k, key, reference) => CheckRelative($"exp_avg_sq{steps}", key, state[k + ".exp_avg_sq"], reference, 2e-4));
        var stepCounts = JsonSerializer.Deserialize<long[]>(Stated("optimizer_step_count", $"[{steps}]"))!;
        if (stepCounts.Any(c => c != trainer.OptimizerSteps))
            failures.Add($"{name}: AdamW step count {trainer.OptimizerSteps}, reference [{string.Join(", ", stepCounts)}]");

        foreach (var (kind, err) in worst) output.WriteLine($"{name} {kind}: worst error / scale {err:E2}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [GeneratedRegex(@"^(param|ema|exp_avg|exp_avg_sq)(\d+)\.")]
    private static partial Regex ResultPrefix();

    private static double MaxAbs(Tensor t) => t.to(ScalarType.Float64).abs().max().item<double>();

    /// <summary>2⁻²³: the spacing of float32 numbers in [1, 2).</summary>
    private const double Float32Epsilon = 1.0 / (1 << 23);

    /// <summary>The fixture's batches in step order: moments [S, B, 2C, H, W] and captions [S, B, L, D].</summary>
    private sealed class ReplayedBatches(Tensor moments, Tensor captions) : IBatchSource
    {
        private int _next;
        public BatchKind Kind => BatchKind.Moments;
        public TrainBatch Next(int batchSize)
        {
            Assert.Equal(moments.shape[1], batchSize);
            var i = _next++;
            return new TrainBatch(moments[i].clone(), captions[i].clone());
        }
        public string GetPosition() => _next.ToString(CultureInfo.InvariantCulture);
        public void SetPosition(string position) => _next = int.Parse(position, CultureInfo.InvariantCulture);
    }
}

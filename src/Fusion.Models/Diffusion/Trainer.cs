using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using Denoiser = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;

namespace Fusion.Models.Diffusion;

/// <summary>
/// Trains an ε-prediction denoiser ε̂ = net(x_n, n, context) — x_n [B, C, H, W], n the integer step 1..N as a float32
/// tensor [B], context [B, L, D] — the way the reference's <c>train_t2i_discrete.py</c> does (§6.3): per step draw the
/// latent (from moments), n ~ U{1..N}, ε ~ N(0, I), x_n = √ᾱ_n·x0 + √(1 − ᾱ_n)·ε, loss = mean over the batch of the
/// per-sample mean squared error, AdamW with warm-up, then the EMA update. All randomness comes from one
/// torch.Generator owned by the trainer (seeded by <see cref="TrainConfig.Seed"/>; per step, in this order: the caption
/// drop mask, the posterior noise, n, ε), so a checkpoint restores it exactly.
/// <para>
/// In <see cref="TrainPrecision.BFloat16Mixed"/> the forward and backward run on a bfloat16 copy of the model refreshed
/// from the float32 master weights before every step; its gradients are cast to float32 for AdamW, which updates the
/// master weights; the EMA follows the master weights. The network receives float32 timesteps and bfloat16 x and
/// context, and must cast its time embedding to x's dtype.
/// </para>
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly IBatchSource _data;
    private readonly Tensor? _nullContext;
    private readonly Generator _generator;
    private readonly Denoiser _compute;
    // The master, EMA and compute models' parameters in one buffer each (the compute's is the master's in float32).
    private readonly FlatParameters _master, _ema, _computeParams;
    private readonly (Tensor Target, Tensor Source)[] _emaBuffers;
    private readonly AdamW _optimizer;
    private Tensor? _gradFloat32;
    private readonly Device _device;
    private readonly Func<Denoiser> _createModel;
    private readonly string _initialDataPosition;
    // The running mean of the loss since the last log entry; part of a checkpoint, so resumed logs match.
    private double _pendingLossSum;
    private int _pendingSteps;
    // Run's guard on the device (TrainConfig.DeviceGuard), null when the host checks every step.
    private readonly DeviceStepGuard? _guard;

    public TrainConfig Config { get; }
    /// <summary>The float32 master weights.</summary>
    public Denoiser Model { get; }
    /// <summary>The EMA weights (float32, eval mode); use these for sampling.</summary>
    public Denoiser Ema { get; }
    public DiscreteSchedule Schedule { get; }
    /// <summary>Completed optimizer steps.</summary>
    public long Step { get; private set; }
    public string? LastCheckpoint { get; private set; }
    /// <summary>AdamW's step count (it advances on lr-0 warm-up steps too).</summary>
    public long OptimizerSteps => _optimizer.StepCount;
    /// <summary>Device→host reads of step results so far (each one waits for the device on a GPU): two per checked
    /// step (loss, gradient norm), one per read of the device guard.</summary>
    public long HostReads { get; private set; }
    /// <summary>AdamW's moments, "NAME.exp_avg" and "NAME.exp_avg_sq" (the live tensors: read, don't write).</summary>
    public IReadOnlyDictionary<string, Tensor> OptimizerState() => _optimizer.StateTensors();

    /// <param name="createModel">Builds a fresh float32 model (called for the master, the EMA and, in bf16-mixed mode, the compute copy).
    /// The master is built right after <c>torch.manual_seed(config.Seed)</c>.</param>
    /// <param name="nullContext">The null-caption context [L, D] (or [1, L, D]) for the caption drop; needed when PUncond &gt; 0.</param>
    public Trainer(Func<Denoiser> createModel, TrainConfig config, IBatchSource data, Tensor? nullContext = null)
    {
        config.Validate();
        if (config.PUncond > 0 && nullContext is null)
            throw new ArgumentException($"PUncond = {config.PUncond} needs a null-caption context (got none)", nameof(nullContext));
        Config = config;
        _data = data;
        _createModel = createModel;
        _initialDataPosition = data.GetPosition();
        _device = TorchEnvironment.ResolveDevice(config.Device);
        Schedule = config.NoiseSchedule();

        // Only the master's initial values come from the seed; the EMA and compute copies are overwritten from it.
        Model = TorchRandom.Seeded(config.Seed, createModel).to(ScalarType.Float32).to(_device);
        Ema = TorchRandom.Unseeded(createModel).to(ScalarType.Float32).to(_device);
        foreach (var p in Ema.parameters()) p.requires_grad = false;
        Ema.eval();
        Diffusion.Ema.Update(Ema, Model, 0.0);
        _compute = config.Precision == TrainPrecision.BFloat16Mixed ? TorchRandom.Unseeded(createModel).to(ScalarType.BFloat16).to(_device) : Model;

        _master = FlatParameters.Of(Model);
        _ema = FlatParameters.Of(Ema);
        _ema.CheckSameLayout(_master, "createModel built models with different parameters");
        if (ReferenceEquals(_compute, Model)) _computeParams = _master;
        else
        {
            _computeParams = FlatParameters.Of(_compute);
            _computeParams.CheckSameLayout(_master, "createModel built models with different parameters");
        }
        var emaBuffers = Ema.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        _emaBuffers = Model.named_buffers().Select(b => (emaBuffers[b.name], b.buffer)).ToArray();
        _optimizer = new AdamW(_master, config.Beta1, config.Beta2, config.AdamEps, config.WeightDecay);

        if (nullContext is not null)
            _nullContext = (nullContext.dim() == 3 ? nullContext.squeeze(0) : nullContext).to(ScalarType.Float32).to(_device).DetachFromDisposeScope();
        _generator = new Generator((ulong)config.Seed);
        if (config.DeviceGuard ?? _device.type == DeviceType.CUDA) _guard = new DeviceStepGuard(_device);
    }

    /// <summary>One optimizer step on the next batch, its randomness drawn from the trainer's generator. Throws
    /// <see cref="NonFiniteTrainingException"/> (before changing anything) if the loss or a gradient is NaN/inf.</summary>
    public TrainLog TrainStep()
    {
        ReadGuard();
        return OneStep(Draw, StepMode.Checked)!;
    }

    /// <summary>One optimizer step on the next batch with the given draws instead of the generator's (which is left
    /// untouched): replays a reference run whose random numbers are known.</summary>
    public TrainLog TrainStep(StepDraws draws)
    {
        ReadGuard();
        return OneStep(_ => draws, StepMode.Checked)!;
    }

    private enum StepMode
    {
        /// <summary>The host reads the loss and gradient norm and refuses a non-finite step before applying it.</summary>
        Checked,
        /// <summary>The device checks them and masks the update (<see cref="DeviceStepGuard"/>); nothing is read.</summary>
        OnDevice,
        /// <summary>As <see cref="Checked"/>, but nothing is applied: names the culprit of a step the device refused.</summary>
        Diagnose,
    }

    // One step; the log (null in OnDevice mode, whose loss and gradient norm stay on the device, and in Diagnose mode).
    private TrainLog? OneStep(Func<TrainBatch, StepDraws> drawsFor, StepMode mode)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var b = Config.BatchSize;
        using var batch = _data.Next(b);
        CheckBatch(batch, b);
        var draws = drawsFor(batch);
        var context = ToDevice(batch.Context.to(ScalarType.Float32));
        if (Config.PUncond > 0)
        {
            var drop = ToDevice(Checked(draws.Drop, "Drop", [b]).to(ScalarType.Bool)).view(b, 1, 1);
            context = where(drop, _nullContext!.unsqueeze(0).expand_as(context), context);
        }
        var x0 = ToDevice(batch.Data.to(ScalarType.Float32));
        if (_data.Kind == BatchKind.Moments)
            x0 = LatentSample(x0, ToDevice(Checked(draws.PosteriorNoise, "PosteriorNoise", LatentShape(batch))), Config.LatentScale);
        var n = Checked(draws.N, "N", [b]);
        var eps = ToDevice(Checked(draws.Eps, "Eps", x0.shape).to(ScalarType.Float32));
        var xn = Schedule.AddNoise(x0, n, eps, ToDevice);
        var t = ToDevice(n.to(ScalarType.Float32));

        var lr = Config.LearningRateAt(Step);
        if (Config.Precision == TrainPrecision.BFloat16Mixed)
        {
            using var _ = no_grad();
            _computeParams.Values.copy_(_master.Values);
            xn = xn.to(ScalarType.BFloat16);
            context = context.to(ScalarType.BFloat16);
        }
        _compute.train();
        _computeParams.ZeroGradients();
        var pred = _compute.call(xn, t, context);
        if (!pred.shape.SequenceEqual(eps.shape))
            throw new InvalidOperationException($"denoiser returned shape [{string.Join(", ", pred.shape)}] for input [{string.Join(", ", eps.shape)}]");
        var target = Config.Prediction == Prediction.Velocity ? Schedule.Velocity(x0, n, eps, ToDevice) : eps;
        var perSample = (target - pred.to(ScalarType.Float32)).square().flatten(1).mean([1]);
        if (Config.MinSnrGamma > 0) perSample = perSample * ToDevice(MinSnrWeights(n, Config.MinSnrGamma));
        var loss = perSample.mean();
        var lossValue = float.NaN;
        if (mode != StepMode.OnDevice)
        {
            lossValue = Read(loss);
            if (!float.IsFinite(lossValue)) throw new NonFiniteTrainingException(Step + 1, $"loss {lossValue}", LastCheckpoint);
        }
        loss.backward();

        _computeParams.AdoptGradients();
        var grad = _computeParams.Gradients!;
        if (grad.dtype != ScalarType.Float32)
        {
            // bf16-mixed: AdamW takes a float32 copy, kept across steps (a new one would be a fresh 180 MB for S/2 each step).
            _gradFloat32 ??= zeros_like(_master.Values).DetachFromDisposeScope();
            using (no_grad()) grad = _gradFloat32.copy_(grad);
        }
        var gradNorm = float.NaN;
        Tensor? apply = null;
        if (mode == StepMode.OnDevice) apply = _guard!.Record(loss, grad.norm());
        else
        {
            gradNorm = Read(grad.norm());
            // A finite loss can still come with NaN/inf gradients (a faulty kernel, an overflow): never let AdamW apply them.
            if (!float.IsFinite(gradNorm)) throw NonFiniteGradient(grad, gradNorm);
            if (mode == StepMode.Diagnose) return null;
        }
        _optimizer.Step(grad, lr, apply);
        Diffusion.Ema.Update(_ema, _master, Config.EmaRateAt(Step), apply);
        using (no_grad()) foreach (var (emaBuffer, buffer) in _emaBuffers) emaBuffer.copy_(buffer);
        Step++;
        if (mode == StepMode.OnDevice) return null;
        var seconds = clock.Elapsed.TotalSeconds;
        return new TrainLog(Step, lossValue, gradNorm, lr, 1 / seconds, b / seconds);
    }

    private float Read(Tensor scalar)
    {
        HostReads++;
        return scalar.item<float>();
    }

    // Host → device. On a GPU through pinned memory without blocking: a copy from pageable memory makes the host wait
    // for the device to finish all queued work, so the host could not queue the next step while this one runs.
    private Tensor ToDevice(Tensor t) =>
        _device.type == DeviceType.CUDA && t.device_type == DeviceType.CPU ? t.pin_memory().to(_device, non_blocking: true) : t.to(_device);

    // A step under the device guard: its start is kept, so the step can be drawn again if the device refuses it.
    private void StepOnDevice()
    {
        using (var state = _generator.get_state())
            _guard!.BeforeStep(new DeviceStepGuard.PendingStep(state.data<byte>().ToArray(), _data.GetPosition()), _pendingLossSum);
        OneStep(Draw, StepMode.OnDevice);
    }

    /// <summary>
    /// Reads the device guard if steps are unread: takes over the loss sum and the last gradient norm; if a step was
    /// refused, takes back the step counts of it and of the masked steps after it (weights, moments and EMA are from
    /// before it), then draws it again and runs it with host checks, which throw as a checked step would have.
    /// </summary>
    private double ReadGuard()
    {
        if (_guard is null || _guard.Unread == 0) return double.NaN;
        HostReads++;
        var outcome = _guard.Read();
        if (outcome.Refused is null)
        {
            _pendingLossSum = outcome.LossSum;
            return outcome.GradNorm;
        }
        var masked = outcome.Steps - outcome.Applied;
        Step -= masked;
        _optimizer.Rewind(masked);
        using (var state = tensor(outcome.Refused.GeneratorState)) _generator.set_state(state);
        _data.SetPosition(outcome.Refused.DataPosition);
        OneStep(Draw, StepMode.Diagnose);
        throw new NonFiniteTrainingException(Step + 1,
            $"loss or gradient norm on {_device} (the same step was finite when run again with host checks: the fault does not reproduce)", LastCheckpoint);
    }

    /// <summary>min(SNR_n, γ)/SNR_n for steps n [B] (float32, CPU), from the float64 schedule; over SNR_n + 1 for v, whose
    /// MSE is (SNR_n + 1) times ε's.</summary>
    private Tensor MinSnrWeights(Tensor n, double gamma) => tensor(n.data<long>().ToArray().Select(k =>
    {
        var snr = Schedule.AlphasCumprod[(int)k] / Schedule.OneMinusAlphasCumprod[(int)k];
        return (float)(Math.Min(snr, gamma) / (Config.Prediction == Prediction.Velocity ? snr + 1 : snr));
    }).ToArray());

    private NonFiniteTrainingException NonFiniteGradient(Tensor grad, float norm)
    {
        var first = FirstNonFinite(_master.Named(grad).Select(kv => (kv.Key, kv.Value)));
        var what = first is null ? $"gradient norm {norm} (every gradient is finite: the norm overflowed)"
            : $"gradient of '{first}' (global norm {norm})";
        return new NonFiniteTrainingException(Step + 1, what, LastCheckpoint);
    }

    /// <summary>The name of the first tensor holding a NaN or ±inf, or null.</summary>
    private static string? FirstNonFinite(IEnumerable<(string Name, Tensor Value)> tensors)
    {
        using var scope = NewDisposeScope();
        return tensors.FirstOrDefault(t => !t.Value.isfinite().all().item<bool>()).Name;
    }

    // Everything a batch must satisfy, checked before anything is drawn for it.
    private void CheckBatch(TrainBatch batch, int b)
    {
        var (data, context) = (batch.Data, batch.Context);
        if (data.shape[0] != b) throw new InvalidDataException($"batch source returned {data.shape[0]} items, asked for {b}");
        if (context.dim() != 3 || context.shape[0] != b)
            throw new InvalidDataException($"context must be [{b}, L, D], got [{string.Join(", ", context.shape)}]");
        if (Config.PUncond > 0 && !_nullContext!.shape.SequenceEqual(context.shape.Skip(1)))
            throw new InvalidDataException($"null context [{string.Join(", ", _nullContext.shape)}] does not match context [{string.Join(", ", context.shape)}]");
        if (_data.Kind == BatchKind.Moments && (data.dim() < 2 || data.shape[1] % 2 != 0))
            throw new InvalidDataException($"moments must be [B, 2C, …], got [{string.Join(", ", data.shape)}]");
    }

    // The shape of x0: the data's, or the mean half of the moments.
    private long[] LatentShape(TrainBatch batch) =>
        _data.Kind == BatchKind.Moments ? [batch.Data.shape[0], batch.Data.shape[1] / 2, .. batch.Data.shape.Skip(2)] : batch.Data.shape;

    // The generator's draws for one step, in the order checkpoints rely on: caption drop, posterior noise, n, ε (on the CPU).
    private StepDraws Draw(TrainBatch batch)
    {
        var b = Config.BatchSize;
        Tensor? drop = null;
        if (Config.PUncond > 0)
        {
            using var p = Config.PUncond.ToScalar();
            drop = rand([b], generator: _generator) < p;
        }
        var noise = _data.Kind == BatchKind.Moments ? randn(LatentShape(batch), generator: _generator) : null;
        var n = randint(1, Schedule.N + 1, [b], ScalarType.Int64, generator: _generator);
        var eps = randn(LatentShape(batch), generator: _generator);
        return new StepDraws(drop, noise, n, eps);
    }

    private static Tensor Checked(Tensor? draw, string name, long[] shape) =>
        draw is null ? throw new ArgumentException($"this step needs StepDraws.{name} [{string.Join(", ", shape)}], got none")
        : draw.shape.SequenceEqual(shape) ? draw
        : throw new ArgumentException($"StepDraws.{name} has shape [{string.Join(", ", draw.shape)}], the step needs [{string.Join(", ", shape)}]");

    /// <summary>The reference autoencoder's posterior sample <c>scale·(mean + exp(½·clamp(logvar, −30, 20))·noise)</c> from
    /// moments [B, 2C, …] (mean, then log-variance, along dim 1) and standard normal <paramref name="noise"/> [B, C, …].</summary>
    public static Tensor LatentSample(Tensor moments, Tensor noise, double scale)
    {
        var halves = moments.chunk(2, 1);
        var std = halves[1].Clamp(-30.0, 20.0).Times(0.5).exp();
        return halves[0].Plus(std * noise).Times(scale);
    }

    /// <summary>Trains until <see cref="Step"/> = <paramref name="totalSteps"/>, reporting every LogEvery steps (the mean
    /// loss since the last report) and checkpointing into <paramref name="checkpointRoot"/> every SaveEvery steps and at the end.</summary>
    public void Run(long totalSteps, string? checkpointRoot = null, Action<TrainLog>? onLog = null, CancellationToken cancel = default)
    {
        ReadGuard();
        var clock = Stopwatch.StartNew();
        var timed = 0;
        while (Step < totalSteps)
        {
            cancel.ThrowIfCancellationRequested();
            var lr = Config.LearningRateAt(Step);
            var gradNorm = double.NaN;
            if (_guard is not null) StepOnDevice();
            else
            {
                var checkedLog = OneStep(Draw, StepMode.Checked)!;
                _pendingLossSum += checkedLog.Loss;
                gradNorm = checkedLog.GradNorm;
            }
            _pendingSteps++;
            timed++;
            if (Step % Config.LogEvery == 0 || Step == totalSteps)
            {
                if (_guard is not null) gradNorm = ReadGuard();
                var s = clock.Elapsed.TotalSeconds;
                onLog?.Invoke(new TrainLog(Step, _pendingLossSum / _pendingSteps, gradNorm, lr, timed / s, timed * Config.BatchSize / s));
                (_pendingLossSum, _pendingSteps, timed) = (0, 0, 0);
                clock.Restart();
            }
            if (checkpointRoot is not null && (Step == totalSteps || (Config.SaveEvery > 0 && Step % Config.SaveEvery == 0)))
            {
                SaveCheckpoint(checkpointRoot);
                timed = 0;
                clock.Restart();
            }
        }
    }

    /// <summary>Writes <c>{root}/{Step}.ckpt/</c> atomically, prunes to KeepCheckpoints, and returns the folder. Refuses
    /// (throws) to write weights, EMA or optimizer moments that are not finite.</summary>
    public string SaveCheckpoint(string checkpointRoot)
    {
        ReadGuard();
        var optimizerState = _optimizer.StateTensors();
        var bad = FirstNonFinite(Model.named_parameters().Select(p => ("model " + p.name, (Tensor)p.parameter))
            .Concat(Ema.named_parameters().Select(p => ("EMA " + p.name, (Tensor)p.parameter)))
            .Concat(optimizerState.Select(kv => ("optimizer " + kv.Key, kv.Value))));
        if (bad is not null) throw new InvalidOperationException($"refusing to checkpoint step {Step}: {bad} is not finite");

        var folder = System.IO.Path.Combine(checkpointRoot, Checkpoints.FolderName(Step));
        using var state = _generator.get_state();
        Checkpoints.WriteAtomically(folder, tmp =>
        {
            Model.save_safetensors(System.IO.Path.Combine(tmp, Checkpoints.ModelFile));
            Ema.save_safetensors(System.IO.Path.Combine(tmp, Checkpoints.EmaFile));
            Safetensors.SaveStateDict(System.IO.Path.Combine(tmp, Checkpoints.OptimizerFile), optimizerState);
            var json = new CheckpointState(Checkpoints.Format, Step, _optimizer.StepCount, Config,
                Convert.ToBase64String(state.data<byte>().ToArray()), _data.GetPosition(), _pendingLossSum, _pendingSteps,
                Checkpoints.Hash(tmp), DateTime.UtcNow);
            File.WriteAllText(System.IO.Path.Combine(tmp, Checkpoints.StateFile), JsonSerializer.Serialize(json, Checkpoints.Json));
        });
        LastCheckpoint = System.IO.Path.GetFullPath(folder);
        if (Config.KeepCheckpoints > 0)
            foreach (var (_, old) in Checkpoints.List(checkpointRoot).SkipLast(Config.KeepCheckpoints))
                Directory.Delete(old, recursive: true);
        return LastCheckpoint;
    }

    /// <summary>Restores everything a checkpoint holds, after checking its files against their recorded SHA-256. The stored
    /// config must equal this trainer's up to device/logging/saving fields. Throws <see cref="InvalidDataException"/> naming
    /// the bad file; the trainer may then be partly loaded (<see cref="ResumeLatest"/> resets it).</summary>
    public void LoadCheckpoint(string folder)
    {
        _guard?.Discard();
        var state = Checkpoints.Verify(folder);
        var stored = JsonSerializer.Serialize(state.Config.WithoutOperationalFields(), Checkpoints.Json);
        var ours = JsonSerializer.Serialize(Config.WithoutOperationalFields(), Checkpoints.Json);
        if (stored != ours) throw new InvalidDataException($"{folder}: checkpoint was trained with a different config:\n{stored}\nthis trainer:\n{ours}");
        StateDict.LoadStrict(Model, System.IO.Path.Combine(folder, Checkpoints.ModelFile));
        StateDict.LoadStrict(Ema, System.IO.Path.Combine(folder, Checkpoints.EmaFile));
        var opt = Safetensors.LoadStateDict(System.IO.Path.Combine(folder, Checkpoints.OptimizerFile));
        try { _optimizer.LoadState(opt, state.OptimizerSteps, System.IO.Path.Combine(folder, Checkpoints.OptimizerFile)); }
        finally { foreach (var t in opt.Values) t.Dispose(); }
        using (var g = tensor(Convert.FromBase64String(state.GeneratorState))) _generator.set_state(g);
        _data.SetPosition(state.DataPosition);
        (_pendingLossSum, _pendingSteps) = (state.PendingLossSum, state.PendingSteps);
        Step = state.Step;
        LastCheckpoint = System.IO.Path.GetFullPath(folder);
    }

    /// <summary>
    /// Loads the newest usable checkpoint under <paramref name="checkpointRoot"/>; returns whether one was loaded. A
    /// checkpoint that fails verification or loading (truncated, altered, wrong shapes, another config) is reported through
    /// <paramref name="warn"/>, naming it, and the next older one is tried; when none is usable the trainer starts from step 0.
    /// </summary>
    public bool ResumeLatest(string checkpointRoot, Action<string>? warn = null)
    {
        var all = Checkpoints.List(checkpointRoot);
        for (var i = all.Count - 1; i >= 0; i--)
        {
            try
            {
                LoadCheckpoint(all[i].Path);
                return true;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or FormatException or ExternalException)
            {
                Reset();
                warn?.Invoke($"checkpoint {all[i].Path} is unusable and is skipped: {e.Message}" +
                             (i > 0 ? $"; falling back to {all[i - 1].Path}" : "; no older checkpoint is left, starting from step 0"));
            }
        }
        return false;
    }

    /// <summary>Back to the state of a new trainer: the seeded initial weights, a fresh optimizer, generator and data position.</summary>
    private void Reset()
    {
        using (var fresh = TorchRandom.Seeded(Config.Seed, _createModel))
        using (no_grad())
        {
            var initial = fresh.state_dict();
            foreach (var (k, t) in Model.state_dict()) t.copy_(initial[k]);
        }
        Diffusion.Ema.Update(Ema, Model, 0.0);
        _optimizer.Reset();
        _guard?.Discard();
        using (var g = new Generator((ulong)Config.Seed)) using (var s = g.get_state()) _generator.set_state(s);
        _data.SetPosition(_initialDataPosition);
        (_pendingLossSum, _pendingSteps, Step, LastCheckpoint) = (0, 0, 0, null);
    }

    /// <summary>Writes the EMA weights with the module's key names: a PyTorch state dict (<c>torch.load</c>-able) unless the
    /// path ends in .safetensors.</summary>
    public void ExportEma(string path)
    {
        ReadGuard();
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) { Ema.save_safetensors(path); return; }
        // The pickler writes a view's storage offset but not the rest of its storage (the flat buffer): save copies.
        Dictionary<string, Tensor> copies;
        using (no_grad()) copies = Ema.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        try
        {
            using var stream = File.Create(path);
            PyTorchPickler.PickleStateDict(stream, copies);
        }
        finally { foreach (var t in copies.Values) t.Dispose(); }
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _master.Dispose();
        _ema.Dispose();
        _gradFloat32?.Dispose();
        if (!ReferenceEquals(_computeParams, _master)) _computeParams.Dispose();
        _generator.Dispose();
        _guard?.Dispose();
        _nullContext?.Dispose();
        if (!ReferenceEquals(_compute, Model)) _compute.Dispose();
        Ema.Dispose();
        Model.Dispose();
    }
}

/// <summary>The random numbers of one training step (<see cref="Trainer.TrainStep(StepDraws)"/>).</summary>
/// <param name="Drop">[B] bool (or 0/1): which samples train on the null caption; needed when PUncond &gt; 0.</param>
/// <param name="PosteriorNoise">[B, C, …] standard normal noise of the latent sample; needed for <see cref="BatchKind.Moments"/>.</param>
/// <param name="N">[B] int64 timesteps in 1..N.</param>
/// <param name="Eps">[B, C, …] the noise ε the network learns to predict.</param>
public sealed record StepDraws(Tensor? Drop, Tensor? PosteriorNoise, Tensor N, Tensor Eps);

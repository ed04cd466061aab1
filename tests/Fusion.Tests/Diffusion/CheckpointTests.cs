using TorchSharp.PyBridge;
using Fusion.Models.Diffusion;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

public class CheckpointTests
{
    private static Dictionary<string, Tensor> Snapshot(Trainer t, string root)
    {
        // Everything a run carries forward: weights, EMA, optimizer moments, and the next random draws.
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in t.Model.state_dict()) d["model." + k] = v.clone();
        foreach (var (k, v) in t.Ema.state_dict()) d["ema." + k] = v.clone();
        var folder = t.SaveCheckpoint(root);
        foreach (var (k, v) in Fusion.Models.Weights.StateDict.Read(Path.Combine(folder, Checkpoints.OptimizerFile))) d["opt." + k] = v;
        return d;
    }

    [Theory]
    [InlineData(TrainPrecision.Float32, BatchKind.Moments)]
    [InlineData(TrainPrecision.BFloat16Mixed, BatchKind.Samples)]
    public void InterruptedAndResumedRunIsBitIdentical(TrainPrecision precision, BatchKind kind)
    {
        using var dir = new TempDir();
        var config = TrainingTests.Small with { Precision = precision };
        const int total = 7, interruptAt = 3;

        using var straight = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(kind), TrainingTests.Null);
        straight.Run(total);
        var expected = Snapshot(straight, dir["a"]);

        using (var first = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(kind), TrainingTests.Null))
        {
            first.Run(interruptAt, dir["b"]);
            Assert.Equal(Path.Combine(dir["b"], "3.ckpt"), first.LastCheckpoint);
        }
        // A fresh process-like start: new models (another init), new source, other logging; everything else from disk.
        using var resumed = new Trainer(TrainingTests.Tiny(seed: 8), config with { LogEvery = 5 }, TrainingTests.Source(kind), TrainingTests.Null);
        Assert.True(resumed.ResumeLatest(dir["b"]));
        Assert.Equal(interruptAt, resumed.Step);
        resumed.Run(total);
        var actual = Snapshot(resumed, dir["c"]);

        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var k in expected.Keys) Assert.True(SamplerTests.Same(expected[k], actual[k]), $"'{k}' differs after resume");
        var sa = Checkpoints.ReadState(Path.Combine(dir["a"], "7.ckpt"));
        var sc = Checkpoints.ReadState(Path.Combine(dir["c"], "7.ckpt"));
        Assert.Equal(sa.GeneratorState, sc.GeneratorState);
        Assert.Equal(sa.DataPosition, sc.DataPosition);
        Assert.Equal(7, sc.OptimizerSteps);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NonFiniteLossOrGradientNamesTheStepAndKeepsTheLastGoodCheckpoint(bool finiteLossNaNGradient)
    {
        using var dir = new TempDir();
        var model = finiteLossNaNGradient ? TrainingTests.Tiny(nanGradientAt: 5) : TrainingTests.Tiny(nanAt: 5);
        using var trainer = new Trainer(model, TrainingTests.Small with { SaveEvery = 2 }, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        var ex = Assert.Throws<NonFiniteTrainingException>(() => trainer.Run(10, dir.Path));
        Assert.Equal(5, ex.Step);
        Assert.Contains("step 5", ex.Message);
        Assert.Contains(finiteLossNaNGradient ? "gradient of 'fc_out.bias'" : "loss NaN", ex.Message);
        Assert.Equal(Path.Combine(dir.Path, "4.ckpt"), ex.LastGoodCheckpoint);
        Assert.Equal(4, trainer.Step);
        Assert.Equal([2L, 4L], Checkpoints.List(dir.Path).Select(c => c.Step));
        // The kept checkpoint is whole and equals the weights in memory (nothing of step 5 was applied).
        var saved = TrainingTests.Tiny()();
        StateDict.LoadStrict(saved, Path.Combine(ex.LastGoodCheckpoint!, Checkpoints.ModelFile));
        foreach (var (k, v) in trainer.Model.state_dict()) Assert.True(SamplerTests.Same(v, saved.state_dict()[k]), k);
        Assert.All(trainer.Model.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));
    }

    [Fact]
    public void NonFiniteWeightsAreNeverCheckpointed()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(TrainingTests.Tiny(), TrainingTests.Small, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        trainer.Run(1);
        using (no_grad()) trainer.Model.named_parameters().First(p => p.name == "fc_mid.weight").parameter[0, 0] = float.PositiveInfinity;
        var ex = Assert.Throws<InvalidOperationException>(() => trainer.SaveCheckpoint(dir.Path));
        Assert.Contains("model fc_mid.weight is not finite", ex.Message);
        Assert.Empty(Checkpoints.List(dir.Path));
    }

    public enum Damage { Truncated, FlippedBit, WrongShape, GarbageState }

    [Theory]
    [InlineData(Damage.Truncated)]
    [InlineData(Damage.FlippedBit)]
    [InlineData(Damage.WrongShape)]
    [InlineData(Damage.GarbageState)]
    public void ADamagedLatestCheckpointIsNamedAndTheRunFallsBackToThePreviousOne(Damage damage)
    {
        using var dir = new TempDir();
        var config = TrainingTests.Small with { SaveEvery = 2, KeepCheckpoints = 2 };
        using (var first = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null))
            first.Run(4, dir.Path);
        var latest = Path.Combine(dir.Path, "4.ckpt");
        var culprit = Damaged(latest, damage);

        using var resumed = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        var warnings = new List<string>();
        Assert.True(resumed.ResumeLatest(dir.Path, warnings.Add));
        Assert.Equal(2, resumed.Step);
        var warning = Assert.Single(warnings);
        Assert.Contains(culprit, warning);
        Assert.Contains("2.ckpt", warning);

        // Everything resumed is the step-2 checkpoint's: the continued run equals one that never saw the damage.
        resumed.Run(4);
        using var straight = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        straight.Run(4);
        foreach (var (k, v) in straight.Model.state_dict()) Assert.True(SamplerTests.Same(v, resumed.Model.state_dict()[k]), k);

        // With every checkpoint damaged the run starts from step 0, as a fresh trainer would, and says so.
        Damaged(Path.Combine(dir.Path, "2.ckpt"), damage);
        using var fresh = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        warnings.Clear();
        Assert.False(fresh.ResumeLatest(dir.Path, warnings.Add));
        Assert.Equal(0, fresh.Step);
        Assert.Contains("starting from step 0", warnings[^1]);
        fresh.Run(4);
        foreach (var (k, v) in straight.Model.state_dict()) Assert.True(SamplerTests.Same(v, fresh.Model.state_dict()[k]), k);
    }

    /// <summary>Damages one file of a checkpoint as a disk or a killed copy would; returns the path a warning must name.</summary>
    private static string Damaged(string checkpoint, Damage damage)
    {
        var model = Path.Combine(checkpoint, Checkpoints.ModelFile);
        switch (damage)
        {
            case Damage.Truncated:
                using (var f = File.Open(model, FileMode.Open)) f.SetLength(f.Length / 2);
                return model;
            case Damage.FlippedBit:
                var bytes = File.ReadAllBytes(model);
                bytes[^5] ^= 0x10;
                File.WriteAllBytes(model, bytes);
                return model;
            case Damage.WrongShape:
                // A well-formed file of the wrong shape whose hash is recorded: only loading can tell.
                var ema = Path.Combine(checkpoint, Checkpoints.EmaFile);
                var other = TrainingTests.Tiny(hidden: 16)();
                other.save_safetensors(ema);
                var statePath = Path.Combine(checkpoint, Checkpoints.StateFile);
                var state = Checkpoints.ReadState(checkpoint);
                var files = new Dictionary<string, string>(state.Files) { [Checkpoints.EmaFile] = Checkpoints.Hash(checkpoint)[Checkpoints.EmaFile] };
                File.WriteAllText(statePath, System.Text.Json.JsonSerializer.Serialize(state with { Files = files }, Checkpoints.Json));
                return ema;
            default:
                var path = Path.Combine(checkpoint, Checkpoints.StateFile);
                File.WriteAllBytes(path, [0, (byte)'g', (byte)'a', (byte)'r']);
                return path;
        }
    }

    [Fact]
    public void AResumedRunLogsTheSameLossCurveAsAnUninterruptedOne()
    {
        using var dir = new TempDir();
        // Checkpoints (every 3) fall between log points (every 4), so the resumed run must carry the running mean.
        var config = TrainingTests.Small with { LogEvery = 4, SaveEvery = 3 };
        var straightLog = new List<TrainLog>();
        using (var straight = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null))
            straight.Run(10, dir["a"], straightLog.Add);

        var resumedLog = new List<TrainLog>();
        using (var first = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null))
            first.Run(5, dir["b"], resumedLog.Add);   // checkpoints at 3 and 5 (the end); log at 4 and 5
        Directory.Delete(Path.Combine(dir["b"], "5.ckpt"), recursive: true);   // as if killed after step 5's log line, before its checkpoint
        resumedLog.RemoveAll(l => l.Step > 3);
        using (var resumed = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null))
        {
            Assert.True(resumed.ResumeLatest(dir["b"]));
            Assert.Equal(3, resumed.Step);
            resumed.Run(10, dir["b"], resumedLog.Add);
        }
        Assert.Equal(straightLog.Select(l => (l.Step, l.Loss, l.GradNorm, l.LearningRate)), resumedLog.Select(l => (l.Step, l.Loss, l.GradNorm, l.LearningRate)));
    }

    [Fact]
    public void CheckpointsAreCompletePrunedAndGuardedAgainstOtherConfigs()
    {
        using var dir = new TempDir();
        var config = TrainingTests.Small with { SaveEvery = 1, KeepCheckpoints = 2 };
        using var trainer = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null);
        trainer.Run(4, dir.Path);
        Assert.Equal([3L, 4L], Checkpoints.List(dir.Path).Select(c => c.Step));
        Assert.Equal(Path.Combine(dir.Path, "4.ckpt"), Checkpoints.Latest(dir.Path));
        Assert.Empty(Directory.EnumerateDirectories(dir.Path, ".*")); // no temporary folders left
        var files = Directory.EnumerateFiles(Path.Combine(dir.Path, "4.ckpt")).Select(Path.GetFileName).Order();
        Assert.Equal([Checkpoints.EmaFile, Checkpoints.ModelFile, Checkpoints.OptimizerFile, Checkpoints.StateFile], files);
        var state = Checkpoints.ReadState(Path.Combine(dir.Path, "4.ckpt"));
        Assert.Equal(4, state.Step);
        Assert.Equal(config, state.Config);

        using var other = new Trainer(TrainingTests.Tiny(), config with { LearningRate = 5e-4 }, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null);
        Assert.Contains("different config", Assert.Throws<InvalidDataException>(() => other.LoadCheckpoint(Path.Combine(dir.Path, "4.ckpt"))).Message);
        var warnings = new List<string>();
        Assert.False(other.ResumeLatest(dir.Path, warnings.Add));   // neither checkpoint fits: named, skipped, fresh start
        Assert.Equal(2, warnings.Count(w => w.Contains("different config")));

        // Re-saving the same step replaces the folder atomically.
        trainer.SaveCheckpoint(dir.Path);
        Assert.Equal(4, Checkpoints.ReadState(Path.Combine(dir.Path, "4.ckpt")).Step);
    }

    [Fact]
    public void EmaExportsAsAPyTorchStateDictWithTheModulesKeys()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(TrainingTests.Tiny(), TrainingTests.Small, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        trainer.Run(2);
        trainer.ExportEma(dir["ema.pth"]);
        var sd = StateDict.Read(dir["ema.pth"]);
        Assert.Equal(trainer.Ema.state_dict().Keys.Order(), sd.Keys.Order());
        Assert.Contains("fc_in.weight", sd.Keys);
        foreach (var (k, v) in trainer.Ema.state_dict()) Assert.True(SamplerTests.Same(v, sd[k]), k);
        var fresh = TrainingTests.Tiny()();
        StateDict.LoadStrict(fresh, dir["ema.pth"]);
    }

    [Fact]
    public void BatchSourcePositionResumesTheExactOrder()
    {
        var a = TrainingTests.Source(BatchKind.Samples, n: 5);
        var seen = new List<float>();
        for (var i = 0; i < 3; i++) using (var b = a.Next(4)) seen.AddRange(b.Data[.., 0, 0, 0].data<float>().ToArray());
        // Every epoch visits every item once (the first 5 draws are a permutation of the 5 items).
        Assert.Equal(5, seen.Take(5).Distinct().Count());
        var position = a.GetPosition();
        using var next = a.Next(4);
        var b2 = TrainingTests.Source(BatchKind.Samples, n: 5);
        b2.SetPosition(position);
        using var again = b2.Next(4);
        Assert.True(SamplerTests.Same(next.Data, again.Data));
        Assert.True(SamplerTests.Same(next.Context, again.Context));
        // Captions are drawn per visit: over many visits both captions of item 0 appear.
        var c = TrainingTests.Source(BatchKind.Samples, n: 1);
        var distinct = Enumerable.Range(0, 20).Select(_ => { using var b = c.Next(1); return b.Context[0, 0, 0].item<float>(); }).Distinct().Count();
        Assert.Equal(2, distinct);
        Assert.Throws<FormatException>(() => b2.SetPosition("{\"Epoch\":0,\"Cursor\":99}"));
    }

    [Fact]
    public void MixedPrecisionTracksFloat32AndKeepsFloat32Masters()
    {
        var config = TrainingTests.Small with { PUncond = 0.1 };
        using var fp32 = new Trainer(TrainingTests.Tiny(), config, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null);
        using var bf16 = new Trainer(TrainingTests.Tiny(), config with { Precision = TrainPrecision.BFloat16Mixed }, TrainingTests.Source(BatchKind.Moments), TrainingTests.Null);
        for (var i = 0; i < 4; i++)
        {
            var (a, b) = (fp32.TrainStep(), bf16.TrainStep());
            Assert.True(Math.Abs(a.Loss - b.Loss) < 0.05 * a.Loss, $"step {i + 1}: fp32 loss {a.Loss}, bf16-mixed {b.Loss}");
        }
        Assert.All(bf16.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(bf16.Ema.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        var w32 = fp32.Model.state_dict()["fc_in.weight"];
        var w16 = bf16.Model.state_dict()["fc_in.weight"];
        Assert.False(SamplerTests.Same(w32, w16)); // really computed differently…
        Assert.True(w32.allclose(w16, rtol: 0, atol: 5e-3)); // …yet close
    }

    [Fact]
    public void BadInputsAreNamed()
    {
        Assert.Contains("PUncond", Assert.Throws<ArgumentException>(() => new Trainer(TrainingTests.Tiny(), TrainingTests.Small, TrainingTests.Source(BatchKind.Samples))).Message);
        Assert.Contains("BatchSize", Assert.Throws<ArgumentException>(() => new Trainer(TrainingTests.Tiny(), TrainingTests.Small with { BatchSize = 0 }, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null)).Message);
        using var wrongNull = new Trainer(TrainingTests.Tiny(), TrainingTests.Small, TrainingTests.Source(BatchKind.Samples), zeros(3, 5));
        Assert.Contains("null context [3, 5]", Assert.Throws<InvalidDataException>(() => wrongNull.TrainStep()).Message);
    }
}

using Fusion.Models.Diffusion;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using static TorchSharp.torch;

namespace Fusion.Tests.Diffusion;

/// <summary>
/// <see cref="TrainConfig.DeviceGuard"/> (on by default on a GPU) forced on here on the CPU: the same run, bit for bit,
/// as with the host checking every step, while the host reads step results only at log steps and checkpoints; and a
/// non-finite step reported exactly as a checked run reports it.
/// </summary>
public class DeviceGuardTests
{
    private static Dictionary<string, Tensor> State(Trainer t)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (k, v) in t.Model.state_dict()) d["model." + k] = v.clone();
        foreach (var (k, v) in t.Ema.state_dict()) d["ema." + k] = v.clone();
        foreach (var (k, v) in t.OptimizerState()) d["opt." + k] = v.clone();
        return d;
    }

    public static TheoryData<TrainPrecision, BatchKind, Prediction, double> Settings => new()
    {
        { TrainPrecision.Float32, BatchKind.Samples, Prediction.Epsilon, 0 },
        { TrainPrecision.Float32, BatchKind.Moments, Prediction.Velocity, 5 },
        { TrainPrecision.BFloat16Mixed, BatchKind.Moments, Prediction.Epsilon, 0 },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void TheGuardOnTheDeviceTrainsTheSameBitsAndReadsOnlyAtLogsAndCheckpoints(TrainPrecision precision, BatchKind kind, Prediction prediction, double minSnr)
    {
        using var dir = new TempDir();
        const int total = 15;
        var config = TrainingTests.Small with { Precision = precision, Prediction = prediction, MinSnrGamma = minSnr, LogEvery = 4, SaveEvery = 6 };
        var runs = new[] { false, true }.Select(onDevice =>
        {
            var trainer = new Trainer(TrainingTests.Tiny(), config with { DeviceGuard = onDevice }, TrainingTests.Source(kind), TrainingTests.Null);
            var logs = new List<TrainLog>();
            trainer.Run(total, dir[onDevice ? "device" : "host"], logs.Add);
            return (trainer, logs);
        }).ToArray();
        var (host, device) = (runs[0], runs[1]);

        Assert.NotEmpty(host.logs);
        Assert.Equal(host.logs.Select(l => (l.Step, l.Loss, l.GradNorm, l.LearningRate)), device.logs.Select(l => (l.Step, l.Loss, l.GradNorm, l.LearningRate)));
        Assert.All(device.logs, l => Assert.True(double.IsFinite(l.Loss) && double.IsFinite(l.GradNorm)));
        TrainingTests.AssertIdentical(State(host.trainer), State(device.trainer), "host vs device guard");
        Assert.Equal(host.trainer.OptimizerSteps, device.trainer.OptimizerSteps);
        foreach (var step in new[] { 6, 12, 15 })
        {
            var (a, b) = (Checkpoints.ReadState(Path.Combine(dir["host"], $"{step}.ckpt")), Checkpoints.ReadState(Path.Combine(dir["device"], $"{step}.ckpt")));
            Assert.Equal((a.GeneratorState, a.DataPosition, a.PendingLossSum, a.PendingSteps, a.OptimizerSteps),
                (b.GeneratorState, b.DataPosition, b.PendingLossSum, b.PendingSteps, b.OptimizerSteps));
            foreach (var file in new[] { Checkpoints.ModelFile, Checkpoints.EmaFile, Checkpoints.OptimizerFile })
                Assert.Equal(File.ReadAllBytes(Path.Combine(dir["host"], $"{step}.ckpt", file)), File.ReadAllBytes(Path.Combine(dir["device"], $"{step}.ckpt", file)));
        }

        // The host checks read twice a step; the device guard once per log step or checkpoint (4, 6, 8, 12, 15).
        Assert.Equal(2 * total, host.trainer.HostReads);
        var readPoints = Enumerable.Range(1, total).Count(k => k % config.LogEvery == 0 || k % config.SaveEvery == 0 || k == total);
        Assert.Equal(readPoints, device.trainer.HostReads);
        foreach (var (trainer, _) in runs) trainer.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARefusedStepIsReplayedAndReportedAsAHostCheckReportsIt(bool finiteLossNaNGradient)
    {
        using var dir = new TempDir();
        // A fault that persists from the 5th forward on; read points at steps 2, 3, 4 and 6, so steps 5 and 6 are unread when it strikes.
        var model = TrainingTests.Tiny(nanAt: finiteLossNaNGradient ? null : 5, nanGradientAt: finiteLossNaNGradient ? 5 : null, faultPersists: true);
        var config = TrainingTests.Small with { SaveEvery = 2, LogEvery = 3 };
        using var host = new Trainer(model, config with { DeviceGuard = false }, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        using var device = new Trainer(model, config with { DeviceGuard = true }, TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        var expected = Assert.Throws<NonFiniteTrainingException>(() => host.Run(10, dir["host"]));
        var actual = Assert.Throws<NonFiniteTrainingException>(() => device.Run(10, dir["device"]));

        Assert.Equal(5, actual.Step);
        Assert.Equal(expected.What, actual.What);
        Assert.Contains(finiteLossNaNGradient ? "gradient of 'fc_out.bias'" : "loss NaN", actual.Message);
        Assert.Equal(Path.Combine(dir["device"], "4.ckpt"), actual.LastGoodCheckpoint);
        Assert.Equal([2L, 4L], Checkpoints.List(dir["device"]).Select(c => c.Step));
        // Nothing of steps 5 and 6 was applied: the state is the checked run's, step counts included.
        Assert.Equal(4, device.Step);
        Assert.Equal(host.OptimizerSteps, device.OptimizerSteps);
        TrainingTests.AssertIdentical(State(host), State(device), "after the refused step");
    }

    [Fact]
    public void AFaultThatDoesNotReproduceIsStillRefusedAndSaysSo()
    {
        using var dir = new TempDir();
        using var trainer = new Trainer(TrainingTests.Tiny(nanAt: 5), TrainingTests.Small with { SaveEvery = 2, LogEvery = 3, DeviceGuard = true },
            TrainingTests.Source(BatchKind.Samples), TrainingTests.Null);
        var ex = Assert.Throws<NonFiniteTrainingException>(() => trainer.Run(10, dir.Path));
        Assert.Equal(5, ex.Step);
        Assert.Contains("does not reproduce", ex.Message);
        Assert.Equal(4, trainer.Step);
        var saved = TrainingTests.Tiny()();
        StateDict.LoadStrict(saved, Path.Combine(ex.LastGoodCheckpoint!, Checkpoints.ModelFile));
        foreach (var (k, v) in trainer.Model.state_dict()) Assert.True(SamplerTests.Same(v, saved.state_dict()[k]), k);
    }
}

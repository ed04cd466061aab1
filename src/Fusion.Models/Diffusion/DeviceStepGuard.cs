using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// The trainer's finite-update guard kept on the device, so a GPU step never waits for the host. Each step's loss and
/// gradient norm are checked there and its update is applied only while every step since the last read was finite
/// (after a non-finite step the weights, moments and EMA stay as they were before it). The host reads the outcome —
/// steps applied, the running loss sum, the last gradient norm — in one transfer, at log steps, checkpoints and the end
/// of a run, and keeps each unread step's generator state and data position so the first refused step can be replayed.
/// </summary>
internal sealed class DeviceStepGuard : IDisposable
{
    private readonly Tensor _healthy;   // bool: every step since the last read was finite
    private readonly Tensor _applied;   // int64: steps applied since the last read
    private readonly Tensor _lossSum;   // float64: the host's running loss sum at the last read plus every loss since
    private readonly Tensor _gradNorm;  // float32: the last step's gradient norm
    private readonly List<PendingStep> _unread = [];

    /// <summary>What a step started from: enough to draw its batch and random numbers again.</summary>
    public sealed record PendingStep(byte[] GeneratorState, string DataPosition);

    /// <summary>The host's view after a read. <see cref="Applied"/> &lt; <see cref="Steps"/> means step
    /// <see cref="Applied"/> (0-based among the unread) was the first non-finite one; <see cref="Refused"/> is its start.</summary>
    public sealed record Outcome(int Steps, int Applied, double LossSum, double GradNorm, PendingStep? Refused);

    public DeviceStepGuard(Device device)
    {
        _healthy = ones([], ScalarType.Bool, device).DetachFromDisposeScope();
        _applied = zeros([], ScalarType.Int64, device).DetachFromDisposeScope();
        _lossSum = zeros([], ScalarType.Float64, device).DetachFromDisposeScope();
        _gradNorm = zeros([], ScalarType.Float32, device).DetachFromDisposeScope();
    }

    /// <summary>Steps taken since the last read.</summary>
    public int Unread => _unread.Count;

    /// <summary>Called before a step draws anything; the first step after a read starts the loss sum from the host's.</summary>
    public void BeforeStep(PendingStep start, double hostLossSum)
    {
        if (_unread.Count == 0)
        {
            using var _ = no_grad();
            using Scalar yes = true.ToScalar(), sum = hostLossSum.ToScalar();
            _healthy.fill_(yes);
            _applied.zero_();
            _lossSum.fill_(sum);
        }
        _unread.Add(start);
    }

    /// <summary>Records a step's loss and gradient norm (scalars on the device) and returns the mask its update is applied under.</summary>
    public Tensor Record(Tensor loss, Tensor gradNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        _healthy.logical_and_(loss.isfinite().logical_and(gradNorm.isfinite()));
        _applied.PlusInPlace(_healthy);
        _lossSum.PlusInPlace(loss.to(ScalarType.Float64));
        _gradNorm.copy_(gradNorm);
        return _healthy;
    }

    /// <summary>One device→host transfer of the outcome since the last read; forgets the unread steps.</summary>
    public Outcome Read()
    {
        using var scope = NewDisposeScope();
        var v = stack([_applied.to(ScalarType.Float64), _lossSum, _gradNorm.to(ScalarType.Float64)]).cpu().data<double>().ToArray();
        var applied = (int)v[0];
        var outcome = new Outcome(_unread.Count, applied, v[1], v[2], applied < _unread.Count ? _unread[applied] : null);
        _unread.Clear();
        return outcome;
    }

    /// <summary>Forgets the unread steps (the trainer's state was replaced, e.g. by a checkpoint).</summary>
    public void Discard() => _unread.Clear();

    public void Dispose()
    {
        _healthy.Dispose();
        _applied.Dispose();
        _lossSum.Dispose();
        _gradNorm.Dispose();
    }
}

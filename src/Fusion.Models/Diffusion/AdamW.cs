using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// AdamW exactly as PyTorch's single-tensor implementation (the CPU default; decoupled weight decay on every
/// parameter), run over a model's <see cref="FlatParameters"/> so a step is seven large kernels whatever the number of
/// tensors (elementwise, so the same bits as the per-tensor loop). Its state is in the open: per parameter name the
/// first and second moments (views of the flat moments) and the step count, so checkpoints store them as safetensors
/// under the per-parameter names and resume bit-exactly. The gradient is passed in explicitly, which lets mixed
/// precision hand over a float32 copy of the bfloat16 gradients without touching the master parameters' .grad.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly FlatParameters _params;
    private readonly Tensor _expAvg, _expAvgSq;
    // 1 − β1 as the lerp weight, made once: a tensor made per step would be a host→device copy per step on a GPU.
    private readonly Tensor _oneMinusBeta1;
    private readonly double _beta1, _beta2, _eps, _weightDecay;

    public long StepCount { get; private set; }

    public AdamW(FlatParameters parameters, double beta1, double beta2, double eps, double weightDecay)
    {
        _params = parameters;
        _expAvg = zeros_like(parameters.Values).DetachFromDisposeScope();
        _expAvgSq = zeros_like(parameters.Values).DetachFromDisposeScope();
        (_beta1, _beta2, _eps, _weightDecay) = (beta1, beta2, eps, weightDecay);
        _oneMinusBeta1 = tensor(1 - beta1, parameters.Values.dtype, parameters.Values.device).DetachFromDisposeScope();
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; <paramref name="grad"/> laid out like the parameters' buffer.
    /// With <paramref name="apply"/> (a bool scalar tensor on the parameters' device) the update is computed into new
    /// tensors and kept only where it is true, without the host reading it: the same bits when true, nothing changed when false.</summary>
    public void Step(Tensor grad, double lr, Tensor? apply = null)
    {
        if (!grad.shape.SequenceEqual(_params.Values.shape) || grad.dtype != _params.Values.dtype)
            throw new ArgumentException($"gradient is {grad.dtype} [{string.Join(", ", grad.shape)}], the parameters {_params.Values.dtype} [{_params.Count}]");
        StepCount++;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var bias1 = 1 - Math.Pow(_beta1, StepCount);
        var bias2Sqrt = Math.Pow(1 - Math.Pow(_beta2, StepCount), 0.5);
        var stepSize = lr / bias1;
        // Explicit scalars, alive until the step ends (ScalarMath says why).
        using Scalar decay = (1 - lr * _weightDecay).ToScalar(), beta2 = _beta2.ToScalar(), oneMinusBeta2 = (1 - _beta2).ToScalar(),
            bias2 = bias2Sqrt.ToScalar(), eps = _eps.ToScalar(), minusStep = (-stepSize).ToScalar(), one = 1.ToScalar();
        foreach (var (offset, length) in _params.Chunks())
        {
            using var chunk = NewDisposeScope();
            var (p, g, m, v) = (_params.Values.narrow(0, offset, length), grad.narrow(0, offset, length),
                _expAvg.narrow(0, offset, length), _expAvgSq.narrow(0, offset, length));
            // Masked: each buffer's first operation writes a new tensor instead (the same kernel, the same bits).
            var masked = apply is not null;
            var pNew = masked ? p.mul(decay) : p.mul_(decay);
            var mNew = masked ? m.lerp(g, _oneMinusBeta1) : m.lerp_(g, _oneMinusBeta1);
            var vNew = (masked ? v.mul(beta2) : v.mul_(beta2)).addcmul_(g, g, oneMinusBeta2);
            var denom = vNew.sqrt().div_(bias2).add_(eps, one);
            pNew.addcdiv_(mNew, denom, minusStep);
            if (apply is null) continue;
            p.copy_(where(apply, pNew, p));
            m.copy_(where(apply, mNew, m));
            v.copy_(where(apply, vNew, v));
        }
    }

    /// <summary>Takes back the step count of <paramref name="steps"/> updates that <c>apply</c> masked out.</summary>
    public void Rewind(long steps)
    {
        if (steps < 0 || steps > StepCount) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"0..{StepCount} steps can be taken back");
        StepCount -= steps;
    }

    /// <summary>The moments as named tensors ("name.exp_avg", "name.exp_avg_sq"), views sharing storage with the optimizer.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        for (var i = 0; i < _params.Entries.Count; i++)
        {
            d[_params.Entries[i].Name + ".exp_avg"] = _params.Slice(_expAvg, i);
            d[_params.Entries[i].Name + ".exp_avg_sq"] = _params.Slice(_expAvgSq, i);
        }
        return d;
    }
    /// <summary>Restores moments (strict: every key present with the right shape) and the step count.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long stepCount, string sourceName)
    {
        var own = StateTensors();
        var problems = own.Where(kv => !tensors.ContainsKey(kv.Key)).Select(kv => $"missing '{kv.Key}'")
            .Concat(own.Where(kv => tensors.ContainsKey(kv.Key) && !tensors[kv.Key].shape.SequenceEqual(kv.Value.shape))
                .Select(kv => $"'{kv.Key}': stored [{string.Join(", ", tensors[kv.Key].shape)}], expected [{string.Join(", ", kv.Value.shape)}]"))
            .Concat(tensors.Keys.Where(k => !own.ContainsKey(k)).Select(k => $"unexpected '{k}'")).ToList();
        if (problems.Count > 0) throw new InvalidDataException($"{sourceName}: optimizer state does not match the model: {string.Join("; ", problems.Take(20))}");
        using var _ = no_grad();
        foreach (var (k, t) in own) t.copy_(tensors[k]);
        StepCount = stepCount;
    }

    /// <summary>Zero moments and step count, as when constructed.</summary>
    public void Reset()
    {
        using var _ = no_grad();
        _expAvg.zero_();
        _expAvgSq.zero_();
        StepCount = 0;
    }

    public void Dispose()
    {
        _expAvg.Dispose();
        _expAvgSq.Dispose();
        _oneMinusBeta1.Dispose();
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// AdamW exactly as PyTorch's single-tensor implementation (the CPU default; decoupled weight decay on every
/// parameter), with its state in the open: per parameter name the first and second moments, and the step count,
/// so checkpoints can store them as safetensors and resume bit-exactly. Gradients are passed in explicitly, which lets
/// mixed precision hand over float32 copies of bfloat16 gradients without touching the master parameters' .grad.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly (string Name, Tensor Param)[] _params;
    private readonly Tensor[] _expAvg, _expAvgSq;
    private readonly double _beta1, _beta2, _eps, _weightDecay;

    public long StepCount { get; private set; }

    public AdamW(IEnumerable<(string Name, Tensor Param)> parameters, double beta1, double beta2, double eps, double weightDecay)
    {
        _params = parameters.ToArray();
        _expAvg = _params.Select(p => zeros_like(p.Param).DetachFromDisposeScope()).ToArray();
        _expAvgSq = _params.Select(p => zeros_like(p.Param).DetachFromDisposeScope()).ToArray();
        (_beta1, _beta2, _eps, _weightDecay) = (beta1, beta2, eps, weightDecay);
    }

    /// <summary>One update with learning rate <paramref name="lr"/>; <paramref name="grads"/> in parameter order.</summary>
    public void Step(IReadOnlyList<Tensor> grads, double lr)
    {
        if (grads.Count != _params.Length) throw new ArgumentException($"{grads.Count} gradients for {_params.Length} parameters");
        StepCount++;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var bias1 = 1 - Math.Pow(_beta1, StepCount);
        var bias2Sqrt = Math.Pow(1 - Math.Pow(_beta2, StepCount), 0.5);
        var stepSize = lr / bias1;
        // Explicit scalars, alive until the step ends (ScalarMath says why).
        using Scalar decay = (1 - lr * _weightDecay).ToScalar(), beta2 = _beta2.ToScalar(), oneMinusBeta2 = (1 - _beta2).ToScalar(),
            bias2 = bias2Sqrt.ToScalar(), eps = _eps.ToScalar(), minusStep = (-stepSize).ToScalar(), one = 1.ToScalar();
        for (var i = 0; i < _params.Length; i++)
        {
            var (p, g, m, v) = (_params[i].Param, grads[i], _expAvg[i], _expAvgSq[i]);
            if (!g.shape.SequenceEqual(p.shape)) throw new ArgumentException($"gradient of '{_params[i].Name}' has shape [{string.Join(", ", g.shape)}], parameter [{string.Join(", ", p.shape)}]");
            p.mul_(decay);
            m.lerp_(g, tensor(1 - _beta1, p.dtype, p.device));
            v.mul_(beta2).addcmul_(g, g, oneMinusBeta2);
            var denom = v.sqrt().div(bias2).add_(eps, one);
            p.addcdiv_(m, denom, minusStep);
        }
    }

    /// <summary>The moments as named tensors ("name.exp_avg", "name.exp_avg_sq"), sharing storage with the optimizer.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        for (var i = 0; i < _params.Length; i++)
        {
            d[_params[i].Name + ".exp_avg"] = _expAvg[i];
            d[_params[i].Name + ".exp_avg_sq"] = _expAvgSq[i];
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
        foreach (var t in _expAvg.Concat(_expAvgSq)) t.zero_();
        StepCount = 0;
    }

    public void Dispose()
    {
        foreach (var t in _expAvg.Concat(_expAvgSq)) t.Dispose();
    }
}

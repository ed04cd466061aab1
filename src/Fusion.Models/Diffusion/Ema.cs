using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// The reference's EMA: for every named parameter p_ema ← rate·p_ema + (1 − rate)·p (mul_ then add_ of the scaled
/// source, as U-ViT's <c>ema()</c>), no warm-up, no bias correction. Buffers, if a model has any, are copied.
/// <see cref="Update(nn.Module, nn.Module, double)"/> with rate 0 is an exact copy (how the reference initialises the
/// EMA model). The trainer updates <see cref="FlatParameters"/> in two kernels: the same operations elementwise, the same bits.
/// </summary>
public static class Ema
{
    public static void Update(nn.Module target, nn.Module source, double rate)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var keep = rate.ToScalar();
        var src = source.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, p) in target.named_parameters())
        {
            if (!src.TryGetValue(name, out var s)) throw new ArgumentException($"EMA source has no parameter '{name}'");
            if (!s.shape.SequenceEqual(p.shape)) throw new ArgumentException($"EMA parameter '{name}': target [{string.Join(", ", p.shape)}], source [{string.Join(", ", s.shape)}]");
            p.mul_(keep).PlusInPlace(s.Times(1 - rate));
        }
        var srcBuffers = source.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var (name, b) in target.named_buffers()) b.copy_(srcBuffers[name]);
    }

    /// <summary>The same update over two models' flat parameter buffers (same layout); with <paramref name="apply"/> (a
    /// bool scalar tensor on their device) kept only where it is true, as <see cref="AdamW.Step"/> does.</summary>
    public static void Update(FlatParameters target, FlatParameters source, double rate, Tensor? apply = null)
    {
        target.CheckSameLayout(source, "EMA");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var keep = rate.ToScalar();
        foreach (var (offset, length) in target.Chunks())
        {
            using var chunk = NewDisposeScope();
            var t = target.Values.narrow(0, offset, length);
            var updated = (apply is null ? t.mul_(keep) : t.mul(keep)).PlusInPlace(source.Values.narrow(0, offset, length).Times(1 - rate));
            if (apply is not null) t.copy_(where(apply, updated, t));
        }
    }
}

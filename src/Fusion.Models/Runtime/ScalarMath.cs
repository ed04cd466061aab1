using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models;

/// <summary>
/// Tensor–number arithmetic that keeps each native scalar alive through the call that reads it. TorchSharp 0.107's
/// operators (<c>x * 0.5</c>) and implicit conversions (<c>x.mul_(rate)</c>) leave the scalar to its finalizer, and
/// the JIT may drop the last reference once the handle is read: a garbage collection during the native call frees the
/// scalar in use (a training run died of it; see ScalarLifetimeTests). Each method here holds its scalar in a
/// <c>using</c> and computes exactly what the TorchSharp operator it replaces computes; methods that take a
/// <see cref="Scalar"/> get one made the same way (<c>using var s = value.ToScalar();</c>).
/// </summary>
public static class ScalarMath
{
    /// <summary>The alpha of every tensor sum, rooted in a static field for the process lifetime, so never finalized.
    /// TorchSharp's <c>a + b</c> and <c>add(s)</c> make a scalar 1 of their own, with the same hazard.</summary>
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>a + b for tensors (TorchSharp's <c>a + b</c> is <c>a.add(b, 1)</c>).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b in place.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a += v in place.</summary>
    public static Tensor PlusInPlace(this Tensor a, double v) { using var s = v.ToScalar(); return a.add_(s, One); }

    /// <summary>t · v (TorchSharp's <c>t * v</c>).</summary>
    public static Tensor Times(this Tensor t, double v) { using var s = v.ToScalar(); return t.mul(s); }
    public static Tensor Times(this Tensor t, long v) { using var s = v.ToScalar(); return t.mul(s); }

    /// <summary>t + v.</summary>
    public static Tensor Plus(this Tensor t, double v) { using var s = v.ToScalar(); return t.add(s, One); }
    public static Tensor Plus(this Tensor t, long v) { using var s = v.ToScalar(); return t.add(s, One); }

    /// <summary>t − v.</summary>
    public static Tensor Minus(this Tensor t, double v) { using var s = v.ToScalar(); return t.sub(s); }
    public static Tensor Minus(this Tensor t, long v) { using var s = v.ToScalar(); return t.sub(s); }

    /// <summary>t / v.</summary>
    public static Tensor Over(this Tensor t, double v) { using var s = v.ToScalar(); return t.div(s); }
    public static Tensor Over(this Tensor t, long v) { using var s = v.ToScalar(); return t.div(s); }

    /// <summary>v − t, computed as TorchSharp's <c>v - t</c> does: (−t) + v.</summary>
    public static Tensor SubtractedFrom(this Tensor t, double v) { using var s = v.ToScalar(); using var neg = t.negative(); return neg.add(s, One); }

    /// <summary>t clamped to [lo, hi].</summary>
    public static Tensor Clamp(this Tensor t, double lo, double hi) { using var a = lo.ToScalar(); using var b = hi.ToScalar(); return t.clamp(a, b); }

    /// <summary>
    /// Runs third-party TorchSharp code that makes scalars of its own and cannot be rewritten here (torch.optim.AdamW's
    /// step: <c>mul_(beta1).add_(grad, alpha: 1 - beta1)</c>, …) with garbage collection held off, so no finalizer can
    /// free a scalar while a native call reads it. If another thread already holds a no-GC region, or the work allocates
    /// more than the budget, it runs unprotected (and still correct unless a collection lands mid-call).
    /// </summary>
    public static void WithoutCollection(Action work, long budgetBytes = 32L << 20)
    {
        var started = false;
        try { started = GC.TryStartNoGCRegion(budgetBytes); }
        catch (InvalidOperationException) { }   // a region is already in progress on another thread
        catch (ArgumentOutOfRangeException) { } // a budget larger than this GC configuration allows
        try { work(); }
        finally
        {
            if (started && System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion)
                try { GC.EndNoGCRegion(); } catch (InvalidOperationException) { }   // the budget ran out and a GC ended it
        }
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// Pre-LN transformer block with an optional long-skip fuse, in its two reference forms:
/// <list type="bullet">
/// <item>concat (<see cref="Attention"/>): x ← skip_linear([x, skip]); x ← x + attn(norm1 x); x ← x + mlp(norm2 x).</item>
/// <item>cross (<see cref="CrossAttention"/> with query length l): the skip fuses into the first l tokens only;
/// norm1 sees all N tokens, the residual and the output keep the first min(l, N); the MLP runs on those.</item>
/// </list>
/// </summary>
public sealed class Block : nn.Module
{
    public readonly LayerNorm norm1;
    public readonly nn.Module<Tensor, Tensor> attn;
    public readonly LayerNorm norm2;
    public readonly Mlp mlp;
    public readonly Linear? skip_linear;

    /// <summary>Query length l of a cross block; null for a concat block (all tokens are queries).</summary>
    public int? QueryTokens { get; }

    public Block(int dim, int heads, int mlpHidden, bool qkvBias, bool skip, int? crossQueryTokens, Device? device = null) : base(nameof(Block))
    {
        QueryTokens = crossQueryTokens;
        norm1 = nn.LayerNorm(dim, eps: 1e-5, device: device);
        attn = crossQueryTokens is int l ? new CrossAttention(dim, heads, qkvBias, l, device) : new Attention(dim, heads, qkvBias, device);
        norm2 = nn.LayerNorm(dim, eps: 1e-5, device: device);
        mlp = new Mlp(dim, mlpHidden, device);
        skip_linear = skip ? nn.Linear(2 * dim, dim, device: device) : null;
        register_module(nameof(norm1), norm1);
        register_module(nameof(attn), attn);
        register_module(nameof(norm2), norm2);
        register_module(nameof(mlp), mlp);
        if (skip_linear is not null) register_module(nameof(skip_linear), skip_linear);
    }

    /// <summary>Runs the block; <paramref name="skip"/> is the long-skip tensor for blocks that own a skip_linear.</summary>
    public Tensor forward(Tensor x, Tensor? skip = null)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[1], l = QueryTokens is int ql ? Math.Min(ql, n) : n;
        if (skip_linear is not null)
        {
            if (skip is null) throw new ArgumentNullException(nameof(skip), "this block fuses a long skip but none was given");
            var fused = skip_linear.call(cat([x.narrow(1, 0, l), skip], -1));
            x = l == n ? fused : cat([fused, x.narrow(1, l, n - l)], 1);
        }
        var h = x.narrow(1, 0, l).Plus(attn.call(norm1.call(x)));
        h = h.Plus(mlp.call(norm2.call(h)));
        return h.MoveToOuterDisposeScope();
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// Multi-head self-attention of U-ViT (timm layout): one <c>qkv</c> Linear whose output columns are
/// [3][heads][head_dim], softmax(q·kᵀ/√head_dim)·v, heads merged head-outer, then <c>proj</c>.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    public readonly Linear qkv;
    public readonly Linear proj;
    private readonly int _heads;

    public Attention(int dim, int heads, bool qkvBias, Device? device = null) : base(nameof(Attention))
    {
        _heads = heads;
        qkv = nn.Linear(dim, 3 * dim, hasBias: qkvBias, device: device);
        proj = nn.Linear(dim, dim, device: device);
        register_module(nameof(qkv), qkv);
        register_module(nameof(proj), proj);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], d = x.shape[2];
        var heads = qkv.call(x).view(b, n, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4);   // [3,B,H,N,hd]
        var attended = nn.functional.scaled_dot_product_attention(heads[0], heads[1], heads[2]);
        return proj.call(attended.transpose(1, 2).reshape(b, n, d)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The cross variants' attention (uvit_t2i_cross.Attention): queries from the first <c>l</c> tokens only
/// (<c>q</c> Linear), keys and values from all tokens (<c>kv</c> Linear, columns [2][heads][head_dim]).
/// Output has min(l, N) tokens. With N = l it is self-attention with qkv = [q; kv].
/// </summary>
public sealed class CrossAttention : nn.Module<Tensor, Tensor>
{
    public readonly Linear q;
    public readonly Linear kv;
    public readonly Linear proj;
    private readonly int _heads;

    /// <summary>Number of leading tokens that act as queries (the reference's <c>l</c>).</summary>
    public int QueryTokens { get; }

    public CrossAttention(int dim, int heads, bool qkvBias, int queryTokens, Device? device = null) : base(nameof(CrossAttention))
    {
        (_heads, QueryTokens) = (heads, queryTokens);
        q = nn.Linear(dim, dim, hasBias: qkvBias, device: device);
        kv = nn.Linear(dim, 2 * dim, hasBias: qkvBias, device: device);
        proj = nn.Linear(dim, dim, device: device);
        register_module(nameof(q), q);
        register_module(nameof(kv), kv);
        register_module(nameof(proj), proj);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], d = x.shape[2], l = Math.Min(QueryTokens, n);
        var qh = q.call(x.narrow(1, 0, l)).view(b, l, _heads, d / _heads).transpose(1, 2);     // [B,H,l,hd]
        var kvh = kv.call(x).view(b, n, 2, _heads, d / _heads).permute(2, 0, 3, 1, 4);        // [2,B,H,N,hd]
        var attended = nn.functional.scaled_dot_product_attention(qh, kvh[0], kvh[1]);
        return proj.call(attended.transpose(1, 2).reshape(b, l, d)).MoveToOuterDisposeScope();
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>HF <c>CLIPAttention</c>: separate q/k/v/out projections with bias, scale head_dim^−0.5, optionally causal.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int heads;
    private readonly bool causal;

    public ClipAttention(int width, int heads, bool causal) : base(nameof(ClipAttention))
    {
        q_proj = nn.Linear(width, width);
        k_proj = nn.Linear(width, width);
        v_proj = nn.Linear(width, width);
        out_proj = nn.Linear(width, width);
        this.heads = heads;
        this.causal = causal;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (b, l, w) = (x.shape[0], x.shape[1], x.shape[2]);
        Tensor Heads(Linear proj) => proj.forward(x).view(b, l, heads, w / heads).transpose(1, 2);
        var y = nn.functional.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj), is_casual: causal);
        return out_proj.forward(y.transpose(1, 2).reshape(b, l, w)).MoveToOuterDisposeScope();
    }

    internal void Initialize(int width, int layers)
    {
        var inStd = Math.Pow(width, -0.5) * Math.Pow(2 * layers, -0.5);
        foreach (var p in new[] { q_proj, k_proj, v_proj }) ClipInit.Linear(p, inStd);
        ClipInit.Linear(out_proj, Math.Pow(width, -0.5));
    }
}

/// <summary>HF <c>CLIPMLP</c>: fc1 → activation → fc2.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly ClipActivation activation;

    public ClipMlp(int width, int hidden, ClipActivation activation) : base(nameof(ClipMlp))
    {
        fc1 = nn.Linear(width, hidden);
        fc2 = nn.Linear(hidden, width);
        this.activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = fc1.forward(x);
        using var a = activation == ClipActivation.QuickGelu ? h * sigmoid(h.Times(1.702)) : nn.functional.gelu(h);
        return fc2.forward(a);
    }

    internal void Initialize(int width, int layers)
    {
        ClipInit.Linear(fc1, Math.Pow(2 * width, -0.5));
        ClipInit.Linear(fc2, Math.Pow(width, -0.5) * Math.Pow(2 * layers, -0.5));
    }
}

/// <summary>HF <c>CLIPEncoderLayer</c>: pre-LN residual attention, then pre-LN residual MLP.</summary>
public sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly ClipAttention self_attn;
    private readonly LayerNorm layer_norm1, layer_norm2;
    private readonly ClipMlp mlp;

    public ClipEncoderLayer(ClipTowerConfig c, ClipActivation activation, double eps, bool causal) : base(nameof(ClipEncoderLayer))
    {
        self_attn = new ClipAttention(c.Width, c.Heads, causal);
        layer_norm1 = nn.LayerNorm(c.Width, eps);
        mlp = new ClipMlp(c.Width, c.MlpWidth, activation);
        layer_norm2 = nn.LayerNorm(c.Width, eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x.Plus(self_attn.forward(layer_norm1.forward(x)));
        x = x.Plus(mlp.forward(layer_norm2.forward(x)));
        return x.MoveToOuterDisposeScope();
    }

    internal void Initialize(int width, int layers)
    {
        self_attn.Initialize(width, layers);
        mlp.Initialize(width, layers);
    }
}

/// <summary>HF <c>CLIPEncoder</c>: the stack of layers (keys <c>layers.{i}.*</c>).</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers = new();

    public ClipEncoder(ClipTowerConfig c, ClipActivation activation, double eps, bool causal) : base(nameof(ClipEncoder))
    {
        for (var i = 0; i < c.Layers; i++) layers.Add(new ClipEncoderLayer(c, activation, eps, causal));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in layers) x = layer.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    internal void Initialize(ClipTowerConfig c)
    {
        foreach (var layer in layers) layer.Initialize(c.Width, c.Layers);
    }
}

/// <summary>HF <c>CLIPPreTrainedModel._init_weights</c> (initializer_factor 1): normal weights, zero Linear biases, unit LayerNorms.</summary>
internal static class ClipInit
{
    public static void Linear(Linear l, double std)
    {
        using var _ = no_grad();
        nn.init.normal_(l.weight!, 0, std);
        l.bias?.zero_();
    }

    public static void Normal(Tensor t, double std)
    {
        using var _ = no_grad();
        nn.init.normal_(t, 0, std);
    }

    public static void LayerNorms(nn.Module m)
    {
        using var _ = no_grad();
        foreach (var (_, child) in m.named_modules())
            if (child is LayerNorm ln)
            {
                using var one = 1.ToScalar();
                ln.weight!.fill_(one);
                ln.bias!.zero_();
            }
    }
}

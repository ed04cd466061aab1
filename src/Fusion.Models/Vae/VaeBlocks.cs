using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Vae;

/// <summary>LDM <c>Normalize</c> (GroupNorm, 32 groups, eps 1e-6, affine) and <c>nonlinearity</c> (swish).</summary>
internal static class Ldm
{
    public static GroupNorm Normalize(int channels)
    {
        var norm = nn.GroupNorm(AutoencoderKLConfig.NormGroups, channels, eps: 1e-6);
        using var _ = no_grad();
        using var one = 1.ToScalar();
        norm.weight!.fill_(one); // TorchSharp 0.107 leaves GroupNorm's affine parameters uninitialised (torch.empty)
        norm.bias!.zero_();
        return norm;
    }

    public static Tensor Swish(Tensor x) => nn.functional.silu(x);
}

/// <summary>LDM <c>ResnetBlock</c> without time embedding: x' + conv2(drop(swish(norm2(conv1(swish(norm1(x))))))), x' = nin_shortcut(x) when widths differ.</summary>
public sealed class ResnetBlock : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm1, norm2;
    private readonly SafeConv2d conv1, conv2;
    private readonly Dropout dropout;
    private readonly SafeConv2d? nin_shortcut;

    public ResnetBlock(int inChannels, int outChannels, double dropout) : base(nameof(ResnetBlock))
    {
        norm1 = Ldm.Normalize(inChannels);
        conv1 = new SafeConv2d(inChannels, outChannels, 3, padding: 1);
        norm2 = Ldm.Normalize(outChannels);
        this.dropout = nn.Dropout(dropout);
        conv2 = new SafeConv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) nin_shortcut = new SafeConv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(Ldm.Swish(norm1.forward(x)));
        h = conv2.forward(dropout.forward(Ldm.Swish(norm2.forward(h))));
        var skip = nin_shortcut is null ? x : nin_shortcut.forward(x);
        return (skip.Plus(h)).MoveToOuterDisposeScope();
    }
}

/// <summary>LDM "vanilla" <c>AttnBlock</c>: GroupNorm, 1×1-conv q/k/v, one head over the h·w positions (scale C^−0.5), proj_out, residual.</summary>
public sealed class AttnBlock : nn.Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly SafeConv2d q, k, v, proj_out;

    public AttnBlock(int channels) : base(nameof(AttnBlock))
    {
        norm = Ldm.Normalize(channels);
        q = new SafeConv2d(channels, channels, 1);
        k = new SafeConv2d(channels, channels, 1);
        v = new SafeConv2d(channels, channels, 1);
        proj_out = new SafeConv2d(channels, channels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var n = norm.forward(x);
        Tensor Tokens(SafeConv2d proj) => proj.forward(n).view(b, c, h * w).transpose(1, 2);          // [B, HW, C]
        var y = nn.functional.scaled_dot_product_attention(Tokens(q), Tokens(k), Tokens(v));
        var out_ = proj_out.forward(y.transpose(1, 2).reshape(b, c, h, w));
        return (x.Plus(out_)).MoveToOuterDisposeScope();
    }
}

/// <summary>LDM <c>Downsample</c> with conv: zero-pad right and bottom by one, 3×3 conv stride 2 without padding.</summary>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
    private readonly SafeConv2d conv;

    public Downsample(int channels) : base(nameof(Downsample))
    {
        conv = new SafeConv2d(channels, channels, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var padded = nn.functional.pad(x, [0, 1, 0, 1], PaddingModes.Constant, 0);
        return conv.forward(padded);
    }
}

/// <summary>LDM <c>Upsample</c> with conv: nearest ×2, then 3×3 conv padding 1.</summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
    private readonly SafeConv2d conv;

    public Upsample(int channels) : base(nameof(Upsample))
    {
        conv = new SafeConv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var up = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return conv.forward(up);
    }
}

/// <summary>LDM's middle block: <c>block_1</c>, <c>attn_1</c>, <c>block_2</c>.</summary>
public sealed class MidBlock : nn.Module<Tensor, Tensor>
{
    private readonly ResnetBlock block_1, block_2;
    private readonly AttnBlock attn_1;

    public MidBlock(int channels, double dropout) : base(nameof(MidBlock))
    {
        block_1 = new ResnetBlock(channels, channels, dropout);
        attn_1 = new AttnBlock(channels);
        block_2 = new ResnetBlock(channels, channels, dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return block_2.forward(attn_1.forward(block_1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>One resolution level (<c>down[i]</c> / <c>up[i]</c>): res blocks, optional attention after each, optional resampler.</summary>
public sealed class VaeLevel : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock> block = new();
    private readonly ModuleList<AttnBlock> attn = new();
    private readonly Downsample? downsample;
    private readonly Upsample? upsample;

    public VaeLevel(IReadOnlyList<(int In, int Out)> blocks, bool withAttention, double dropout, Downsample? downsample, Upsample? upsample)
        : base(nameof(VaeLevel))
    {
        foreach (var (i, o) in blocks)
        {
            block.Add(new ResnetBlock(i, o, dropout));
            if (withAttention) attn.Add(new AttnBlock(o));
        }
        this.downsample = downsample;
        this.upsample = upsample;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        for (var i = 0; i < block.Count; i++)
        {
            x = block[i].forward(x);
            if (attn.Count > 0) x = attn[i].forward(x);
        }
        if (downsample is not null) x = downsample.forward(x);
        if (upsample is not null) x = upsample.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}

using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Vae;

/// <summary>
/// LDM <c>Encoder</c>: conv_in → <c>down[i]</c> (res blocks at ch·ch_mult[i], downsampling after every level but the
/// last) → mid → norm_out, swish, conv_out to 2·z_channels (double_z). Image [B, 3, H, W] in [−1, 1] → [B, 2z, H/f, W/f].
/// </summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    private readonly SafeConv2d conv_in, conv_out;
    private readonly ModuleList<VaeLevel> down = new();
    private readonly MidBlock mid;
    private readonly GroupNorm norm_out;

    public Encoder(AutoencoderKLConfig c) : base(nameof(Encoder))
    {
        conv_in = new SafeConv2d(c.InChannels, c.Ch, 3, padding: 1);
        var resolution = c.Resolution;
        var blockIn = c.Ch;
        for (var level = 0; level < c.Levels; level++)
        {
            var blockOut = c.Ch * c.ChMult[level];
            var blocks = Enumerable.Range(0, c.NumResBlocks).Select(j => (j == 0 ? blockIn : blockOut, blockOut)).ToList();
            var last = level == c.Levels - 1;
            down.Add(new VaeLevel(blocks, c.AttnResolutions.Contains(resolution), c.Dropout, last ? null : new Downsample(blockOut), null));
            blockIn = blockOut;
            if (!last) resolution /= 2;
        }
        mid = new MidBlock(blockIn, c.Dropout);
        norm_out = Ldm.Normalize(blockIn);
        conv_out = new SafeConv2d(blockIn, c.DoubleZ ? 2 * c.ZChannels : c.ZChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var level in down) h = level.forward(h);
        h = mid.forward(h);
        return conv_out.forward(Ldm.Swish(norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// LDM <c>Decoder</c>: conv_in from z_channels → mid → <c>up[i]</c> for i = levels−1 … 0 (num_res_blocks + 1 res blocks,
/// upsampling after every level but 0; index i is the resolution level, as LDM builds the list with insert(0, …)) →
/// norm_out, swish, conv_out. No tanh: the output is not clamped.
/// </summary>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
    private readonly SafeConv2d conv_in, conv_out;
    private readonly MidBlock mid;
    private readonly ModuleList<VaeLevel> up = new();
    private readonly GroupNorm norm_out;

    public Decoder(AutoencoderKLConfig c) : base(nameof(Decoder))
    {
        var blockIn = c.Ch * c.ChMult[^1];
        var resolution = c.Resolution / c.DownsamplingFactor;
        conv_in = new SafeConv2d(c.ZChannels, blockIn, 3, padding: 1);
        mid = new MidBlock(blockIn, c.Dropout);
        var levels = new VaeLevel[c.Levels];
        for (var level = c.Levels - 1; level >= 0; level--)
        {
            var blockOut = c.Ch * c.ChMult[level];
            var blocks = Enumerable.Range(0, c.NumResBlocks + 1).Select(j => (j == 0 ? blockIn : blockOut, blockOut)).ToList();
            levels[level] = new VaeLevel(blocks, c.AttnResolutions.Contains(resolution), c.Dropout, null, level == 0 ? null : new Upsample(blockOut));
            blockIn = blockOut;
            if (level != 0) resolution *= 2;
        }
        foreach (var l in levels) up.Add(l);
        norm_out = Ldm.Normalize(blockIn);
        conv_out = new SafeConv2d(blockIn, c.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = mid.forward(conv_in.forward(z));
        for (var level = up.Count - 1; level >= 0; level--) h = up[level].forward(h);
        return conv_out.forward(Ldm.Swish(norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}

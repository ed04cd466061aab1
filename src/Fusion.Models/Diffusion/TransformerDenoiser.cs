using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Fusion.Models.Diffusion;

/// <summary>
/// A plain transformer ε-predictor (patch embedding, sinusoidal time token, projected context tokens, pre-LN blocks,
/// linear unpatchify) with the denoiser signature the trainer and samplers use. Not a paper model: it is the
/// stand-in for benchmarks and smoke runs, the same shape of work as U-ViT without its long skips.
/// </summary>
public sealed class TransformerDenoiser : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly SafeConv2d patch_embed;
    private readonly Linear context_embed;
    private readonly Parameter pos_embed;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm norm;
    private readonly Linear decoder_pred;
    private readonly int _channels, _patch, _dim, _contextTokens;

    public TransformerDenoiser(int channels = 4, int imageSize = 32, int patch = 2, int dim = 512, int depth = 12, int heads = 8,
        int contextTokens = 77, int contextDim = 768) : base(nameof(TransformerDenoiser))
    {
        if (imageSize % patch != 0 || dim % heads != 0 || dim % 2 != 0)
            throw new ArgumentException($"need imageSize % patch == 0 and dim divisible by heads and 2 (image {imageSize}, patch {patch}, dim {dim}, heads {heads})");
        (_channels, _patch, _dim, _contextTokens) = (channels, patch, dim, contextTokens);
        var tokens = (imageSize / patch) * (imageSize / patch);
        patch_embed = new SafeConv2d(channels, dim, patch, stride: patch);
        context_embed = Linear(contextDim, dim);
        pos_embed = Parameter(randn(1, 1 + contextTokens + tokens, dim).Times(0.02));
        blocks = new ModuleList<Block>(Enumerable.Range(0, depth).Select(_ => new Block(dim, heads)).ToArray());
        norm = LayerNorm(dim);
        decoder_pred = Linear(dim, patch * patch * channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor timesteps, Tensor context)
    {
        using var scope = NewDisposeScope();
        var (b, h, w) = (x.shape[0], x.shape[2] / _patch, x.shape[3] / _patch);
        var tokens = patch_embed.call(x).flatten(2).transpose(1, 2);
        var time = Sinusoid(timesteps, _dim).to(x.dtype).unsqueeze(1);
        var ctx = context_embed.call(context);
        var z = cat([time, ctx, tokens], 1).Plus(pos_embed);
        foreach (var block in blocks) z = block.call(z);
        z = decoder_pred.call(norm.call(z)).narrow(1, 1 + _contextTokens, h * w);
        // [B, h·w, p·p·C] → [B, C, h·p, w·p]
        var img = z.reshape(b, h, w, _patch, _patch, _channels).permute(0, 5, 1, 3, 2, 4).reshape(b, _channels, h * _patch, w * _patch);
        return img.MoveToOuterDisposeScope();
    }

    /// <summary>[cos | sin] embedding of float timesteps [B] → [B, dim], computed in float32.</summary>
    public static Tensor Sinusoid(Tensor timesteps, int dim, double maxPeriod = 10000)
    {
        var half = dim / 2;
        using var stop = half.ToScalar();
        using var freqs = exp(arange(stop, ScalarType.Float32, timesteps.device).Times(-Math.Log(maxPeriod) / half));
        using var args = timesteps.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        return cat([cos(args), sin(args)], 1);
    }

    private sealed class Block : Module<Tensor, Tensor>
    {
        private readonly LayerNorm norm1, norm2;
        private readonly Linear qkv, proj, fc1, fc2;
        private readonly int _heads;

        public Block(int dim, int heads) : base(nameof(Block))
        {
            _heads = heads;
            norm1 = LayerNorm(dim);
            qkv = Linear(dim, 3 * dim, hasBias: false);
            proj = Linear(dim, dim);
            norm2 = LayerNorm(dim);
            fc1 = Linear(dim, 4 * dim);
            fc2 = Linear(4 * dim, dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var (b, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
            var q = qkv.call(norm1.call(x)).reshape(b, l, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4);
            var a = functional.scaled_dot_product_attention(q[0], q[1], q[2]).transpose(1, 2).reshape(b, l, d);
            x = x.Plus(proj.call(a));
            return x.Plus(fc2.call(functional.gelu(fc1.call(norm2.call(x)))));
        }
    }
}

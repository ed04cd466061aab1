using Fusion.Models.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// Compute of one forward pass in multiply-accumulates (MACs; 1 MAC = 2 FLOPs). <see cref="Linear"/>: every
/// nn.Linear (incl. skip linears, embeddings, head); <see cref="Conv"/>: patch embed and final 3×3 conv;
/// <see cref="Attention"/>: the two attention matmuls q·kᵀ and softmax·v. Norms, softmax, GELU, adds are not counted.
/// "Without attention" is what ptflops reports when attention runs through a fused kernel.
/// </summary>
public readonly record struct UViTMacs(long Linear, long Conv, long Attention)
{
    public long WithoutAttention => Linear + Conv;
    public long WithAttention => Linear + Conv + Attention;
    public double GMacsWithAttention => WithAttention / 1e9;
    public double GMacsWithoutAttention => WithoutAttention / 1e9;
    /// <summary>2 FLOPs per MAC (the PyTorch-profiler convention of the reference notes' 32.46 GFLOPs).</summary>
    public double GFlopsWithAttention => 2 * WithAttention / 1e9;
    public double GFlopsWithoutAttention => 2 * WithoutAttention / 1e9;

    public static UViTMacs operator +(UViTMacs a, UViTMacs b) => new(a.Linear + b.Linear, a.Conv + b.Conv, a.Attention + b.Attention);
    public static UViTMacs operator *(long k, UViTMacs a) => new(k * a.Linear, k * a.Conv, k * a.Attention);
}

/// <summary>Analytic and measured MAC counts of <see cref="UViT"/>.</summary>
public static class UViTFlops
{
    /// <summary>
    /// Analytic MACs of one forward pass at batch 1 (linear in the batch size), following the token counts of each
    /// block of the variant: q and output length l, key/value length N (l = N except in cross blocks).
    /// </summary>
    public static UViTMacs Forward(UViTConfig config)
    {
        var c = config.Validate();
        long d = c.EmbedDim, hidden = c.MlpHidden, patches = c.NumPatches, text = c.NumClipTokens, image = patches + 1;
        long linear = 0, attention = 0;
        bool cross = c.Fusion.Method == FusionMethod.Cross;

        // One block with key/value length n and query length l; returns the output length.
        long Block(long n, long queryTokens, bool skip)
        {
            long l = cross ? Math.Min(queryTokens, n) : n;
            if (skip && c.Skip) linear += l * 2 * d * d;
            linear += cross ? l * d * d + n * 2 * d * d : n * 3 * d * d;   // q + kv, or qkv
            linear += l * d * d + l * d * hidden + l * hidden * d;         // proj, fc1, fc2
            attention += 2 * l * n * d;                                    // q·kᵀ and attn·v over all heads
            return l;
        }

        long conv = patches * d * c.InChannels * c.PatchSize * c.PatchSize;
        if (c.MlpTimeEmbed) linear += 2 * d * 4 * d;
        linear += text * c.ClipDim * d;

        long tokens;
        if (c.Fusion == UViTFusion.EarlyConcat)
        {
            tokens = image + text;
            for (int i = 0; i < 2 * c.JointBlocks + 1; i++) Block(tokens, tokens, skip: i > c.JointBlocks);
        }
        else
        {
            tokens = image;
            for (int i = 0; i < c.ImageOnlyBlocks; i++) Block(tokens, image, skip: false);
            for (int i = 0; i < c.TextBlocks; i++) Block(text, text, skip: false);
            if (cross)
            {
                for (int i = 0; i < c.JointBlocks; i++) tokens = Block(tokens + text, image, skip: false);
                tokens = Block(tokens + text, c.CrossMidBlockQueryTokens, skip: false);
                for (int i = 0; i < c.JointBlocks; i++) tokens = Block(tokens + text, image, skip: true);
            }
            else
            {
                for (int i = 0; i < 2 * c.JointBlocks + 1; i++) Block(tokens + text, tokens + text, skip: i > c.JointBlocks);
            }
            for (int i = 0; i < c.ImageOnlyBlocks; i++) tokens = Block(tokens, image, skip: true);
        }
        linear += tokens * d * c.PatchDim;                                  // decoder_pred runs on every remaining token
        if (c.Conv) conv += (long)c.ImageSize * c.ImageSize * c.InChannels * c.InChannels * 9;
        return new UViTMacs(linear, conv, attention);
    }

    /// <summary>
    /// Counts the MACs of real forward passes: forward hooks on every Linear and convolution (output elements × input
    /// features per output) and on every attention module (2 · l · N · D per sample). Dispose to remove the hooks.
    /// </summary>
    public sealed class Counter : IDisposable
    {
        private readonly List<Action> _removers = [];
        private long _linear, _conv, _attention;

        public Counter(nn.Module model)
        {
            foreach (var (_, m) in model.named_modules())
            {
                switch (m)
                {
                    case Linear lin:
                        _removers.Add(lin.register_forward_hook((_, _, y) => { _linear += y.numel() * lin.in_features; return null!; }).remove);
                        break;
                    case SafeConv2d conv:
                        var perOutput = conv.weight.shape.Skip(1).Aggregate(1L, (a, s) => a * s);
                        _removers.Add(conv.register_forward_hook((_, _, y) => { _conv += y.numel() * perOutput; return null!; }).remove);
                        break;
                    case Attention or CrossAttention:
                        var attn = (nn.Module<Tensor, Tensor>)m;
                        _removers.Add(attn.register_forward_hook((_, x, y) => { _attention += 2 * y.numel() * x.shape[1]; return null!; }).remove);
                        break;
                }
            }
        }

        /// <summary>MACs counted since construction (or the last <see cref="Reset"/>), summed over the batch.</summary>
        public UViTMacs Total => new(_linear, _conv, _attention);

        public void Reset() => _linear = _conv = _attention = 0;

        public void Dispose()
        {
            foreach (var remove in _removers) remove();
            _removers.Clear();
        }
    }
}

using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// The text-to-image U-ViT of the paper in all four fusion variants (see <see cref="UViTFusion"/>): forward(x, timesteps,
/// context) → ε̂ with x [B,C,H,W] noisy latents, timesteps [B] (float; integers are cast as the reference does) and
/// context [B,T,clip_dim] text embeddings. Module and parameter names equal the authors' state dicts, so their
/// checkpoints load strictly (<see cref="UViTCheckpoint"/>).
/// <para>Precision: computes in the dtype (and on the device) of its parameters; inputs are cast to it (the time embedding is built in
/// float32 first). <c>model.to(ScalarType.BFloat16)</c> gives a bf16 network.</para>
/// </summary>
public sealed class UViT : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    public UViTConfig Config { get; }

    // Fields carry the reference names; registration order equals the reference's (state-dict order and RNG order).
    public Parameter pos_embed;
    public readonly PatchEmbed patch_embed;
    public readonly Sequential? time_embed;
    public readonly Linear context_embed;
    /// <summary>v image-only blocks before fusion (intermediate variants; empty otherwise).</summary>
    public readonly ModuleList<Block> image_blocks;
    /// <summary>c text-only blocks on the projected caption (intermediate variants; empty otherwise).</summary>
    public readonly ModuleList<Block> caption_blocks;
    /// <summary>Text-aware down blocks; registered as <c>in_blocks</c> in early-concat.</summary>
    public readonly ModuleList<Block> joint_blocks;
    public readonly Block mid_block;
    /// <summary>Text-aware up blocks with long skips; registered as <c>out_blocks</c> in early-concat.</summary>
    public readonly ModuleList<Block> joint_skip_blocks;
    /// <summary>v image-only up blocks with long skips (intermediate variants; empty otherwise).</summary>
    public readonly ModuleList<Block> image_skip_blocks;
    public readonly LayerNorm norm;
    public readonly Linear decoder_pred;
    public readonly SafeConv2d? final_layer;

    /// <summary>Builds and initialises the network on <paramref name="device"/> (CPU by default; META for shapes only).</summary>
    public UViT(UViTConfig config, Device? device = null) : base(nameof(UViT))
    {
        Config = config.Validate();
        int d = config.EmbedDim, imageTokens = config.NumPatches + 1;
        var fusion = config.Fusion;
        bool cross = fusion.Method == FusionMethod.Cross, earlyConcat = fusion == UViTFusion.EarlyConcat;
        Block NewBlock(bool skip, int? queryTokens) =>
            new(d, config.NumHeads, config.MlpHidden, config.QkvBias, skip, cross ? queryTokens : null, device);
        ModuleList<Block> Blocks(int count, bool skip, int? queryTokens) =>
            nn.ModuleList(Enumerable.Range(0, count).Select(_ => NewBlock(skip, queryTokens)).ToArray());

        // Construction order = the reference's, so default initialisations draw from the RNG in the same order.
        patch_embed = new PatchEmbed(config.PatchSize, config.InChannels, d, device);
        time_embed = config.MlpTimeEmbed ? nn.Sequential(nn.Linear(d, 4 * d, device: device), nn.SiLU(), nn.Linear(4 * d, d, device: device)) : null;
        context_embed = nn.Linear(config.ClipDim, d, device: device);
        pos_embed = nn.Parameter(zeros(1, config.NumTokens, d, device: device));
        image_blocks = Blocks(config.ImageOnlyBlocks, skip: false, imageTokens);
        caption_blocks = Blocks(config.TextBlocks, skip: false, config.NumClipTokens);
        joint_blocks = Blocks(config.JointBlocks, skip: false, imageTokens);
        mid_block = NewBlock(skip: false, config.CrossMidBlockQueryTokens);
        joint_skip_blocks = Blocks(config.JointBlocks, config.Skip, imageTokens);
        image_skip_blocks = Blocks(config.ImageOnlyBlocks, config.Skip, imageTokens);
        norm = nn.LayerNorm(d, eps: 1e-5, device: device);
        decoder_pred = nn.Linear(d, config.PatchDim, device: device);
        final_layer = config.Conv ? new SafeConv2d(config.InChannels, config.InChannels, 3, padding: 1, device: device) : null;

        register_parameter(nameof(pos_embed), pos_embed);
        register_module(nameof(patch_embed), patch_embed);
        if (time_embed is not null) register_module(nameof(time_embed), time_embed);
        register_module(nameof(context_embed), context_embed);
        if (earlyConcat)
        {
            register_module("in_blocks", joint_blocks);
            register_module(nameof(mid_block), mid_block);
            register_module("out_blocks", joint_skip_blocks);
        }
        else
        {
            register_module(nameof(image_blocks), image_blocks);
            register_module(nameof(caption_blocks), caption_blocks);
            register_module(nameof(joint_blocks), joint_blocks);
            register_module(nameof(mid_block), mid_block);
            register_module(nameof(joint_skip_blocks), joint_skip_blocks);
            register_module(nameof(image_skip_blocks), image_skip_blocks);
        }
        register_module(nameof(norm), norm);
        register_module(nameof(decoder_pred), decoder_pred);
        if (final_layer is not null) register_module(nameof(final_layer), final_layer);

        InitWeights();
    }

    /// <summary>
    /// The reference initialisation: pos_embed trunc-normal(0.02); every Linear weight trunc-normal(0.02) (cut at ±2,
    /// i.e. never), bias 0; LayerNorm 1/0; convolutions keep PyTorch's default (kaiming-uniform a = √5).
    /// </summary>
    private void InitWeights()
    {
        using var _ = no_grad();
        TruncatedNormal.Fill(pos_embed, std: 0.02);
        foreach (var (_, m) in named_modules())
        {
            if (m is Linear linear)
            {
                TruncatedNormal.Fill(linear.weight, std: 0.02);
                linear.bias?.zero_();
            }
            else if (m is LayerNorm ln)
            {
                using var one = 1.0.ToScalar();
                ln.weight!.fill_(one);
                ln.bias!.zero_();
            }
        }
    }

    /// <summary>
    /// Replaces the patch rows of <c>pos_embed</c> with the fixed 2-D sine–cosine table of MAE and DiT (half the width
    /// encodes the row, half the column; frequencies 1/10000^(k/(D/4))); the time and text rows keep their
    /// initialisation. Still a learnable parameter under the reference's name: only the starting point differs, which
    /// lets a short run lay out objects before it has learnt where its patches are. Not the reference's
    /// initialisation (trunc-normal 0.02); an option of the train stage.
    /// </summary>
    public void InitPositionsSinCos()
    {
        var c = Config;
        int d = c.EmbedDim, side = c.ImageSize / c.PatchSize, quarter = d / 4;
        if (d % 4 != 0) throw new InvalidOperationException($"a 2-D sine–cosine table needs a width divisible by 4, got {d}");
        var table = new float[side * side * d];
        for (var row = 0; row < side; row++)
            for (var col = 0; col < side; col++)
                for (var k = 0; k < quarter; k++)
                {
                    var omega = 1.0 / Math.Pow(10000, k / (double)quarter);
                    var at = (row * side + col) * d;
                    table[at + k] = (float)Math.Sin(row * omega);
                    table[at + quarter + k] = (float)Math.Cos(row * omega);
                    table[at + 2 * quarter + k] = (float)Math.Sin(col * omega);
                    table[at + 3 * quarter + k] = (float)Math.Cos(col * omega);
                }
        // Patch rows follow time and text in early-concat ([time | text | patches]), lead otherwise ([patches | time | text]).
        var first = c.Fusion == UViTFusion.EarlyConcat ? 1 + c.NumClipTokens : 0;
        using var _ = no_grad();
        pos_embed.narrow(1, first, side * side).copy_(tensor(table, [1, side * side, d]).to(pos_embed.dtype, pos_embed.device));
    }

    public override Tensor forward(Tensor x, Tensor timesteps, Tensor context)
    {
        var c = Config;
        long b = x.shape[0];
        if (x.dim() != 4 || x.shape[1] != c.InChannels || x.shape[2] != c.ImageSize || x.shape[3] != c.ImageSize)
            throw new ArgumentException($"x has shape [{string.Join(", ", x.shape)}], expected [B, {c.InChannels}, {c.ImageSize}, {c.ImageSize}]");
        if (timesteps.dim() != 1 || timesteps.shape[0] != b)
            throw new ArgumentException($"timesteps has shape [{string.Join(", ", timesteps.shape)}], expected [{b}]");
        if (context.dim() != 3 || context.shape[0] != b || context.shape[1] != c.NumClipTokens || context.shape[2] != c.ClipDim)
            throw new ArgumentException($"context has shape [{string.Join(", ", context.shape)}], expected [{b}, {c.NumClipTokens}, {c.ClipDim}]");

        using var scope = NewDisposeScope();
        var (dtype, device) = (pos_embed.dtype, pos_embed.device);
        var patches = patch_embed.call(x.to(dtype, device));                                            // [B,L,D]
        long l = patches.shape[1];
        var time = TimestepEmbedding.Sinusoidal(timesteps.to(device), c.EmbedDim).to_type(dtype);
        if (time_embed is not null) time = time_embed.call(time);
        time = time.unsqueeze(1);                                                                    // [B,1,D]
        var text = context_embed.call(context.to(dtype, device));                                       // [B,T,D]

        Tensor h;
        long patchStart;
        if (c.Fusion == UViTFusion.EarlyConcat)
        {
            // uvit_t2i_old: tokens [time | text | patches], all blocks joint.
            h = RunU(cat([time, text, patches], 1).Plus(pos_embed), null, withText: null);
            patchStart = 1 + c.NumClipTokens;
        }
        else
        {
            // uvit_t2i / uvit_t2i_cross: image+time [patches | time], text with its own rows of the table.
            var image = cat([patches, time], 1).Plus(pos_embed.narrow(1, 0, l + 1));
            var caption = text.Plus(pos_embed.narrow(1, l + 1, c.NumClipTokens));
            foreach (var block in caption_blocks) caption = block.forward(caption);
            h = RunU(image, caption, withText: c.Fusion.Method);
            patchStart = 0;
        }
        var y = decoder_pred.call(norm.call(h)).narrow(1, patchStart, l);                           // [B,L,p·p·C]
        var eps = Unpatchify(y, c.InChannels, c.PatchSize);
        if (final_layer is not null) eps = final_layer.call(eps);
        return eps.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The U: image-only down blocks, text-aware down blocks, mid, text-aware up blocks, image-only up blocks, with LIFO
    /// long skips. <paramref name="withText"/>: null for early-concat (text already in <paramref name="h"/>); Concat joins
    /// the caption once and drops it before the image-only up blocks; Cross re-appends the static caption as extra
    /// keys/values before every text-aware block.
    /// </summary>
    private Tensor RunU(Tensor h, Tensor? caption, FusionMethod? withText)
    {
        var skips = new Stack<Tensor>();
        Tensor Join(Tensor t) => withText == FusionMethod.Cross ? cat([t, caption!], 1) : t;

        foreach (var block in image_blocks) { h = block.forward(h); skips.Push(h); }
        long imageTokens = h.shape[1];
        if (withText == FusionMethod.Concat) h = cat([h, caption!], 1);
        foreach (var block in joint_blocks) { h = block.forward(Join(h)); skips.Push(h); }
        h = mid_block.forward(Join(h));
        foreach (var block in joint_skip_blocks) h = block.forward(Join(h), skips.Pop());
        if (withText == FusionMethod.Concat) h = h.narrow(1, 0, imageTokens);
        foreach (var block in image_skip_blocks) h = block.forward(h, skips.Pop());
        return h;
    }

    /// <summary>[B, h·w, p·p·C] (per token [p1][p2][C], C fastest) → [B, C, h·p, w·p].</summary>
    public static Tensor Unpatchify(Tensor y, int channels, int patch)
    {
        long b = y.shape[0], side = (long)Math.Round(Math.Sqrt(y.shape[1]));
        if (side * side != y.shape[1] || y.shape[2] != patch * patch * channels)
            throw new ArgumentException($"cannot unpatchify [{string.Join(", ", y.shape)}] with patch {patch} and {channels} channels");
        return y.view(b, side, side, patch, patch, channels).permute(0, 5, 1, 3, 2, 4).reshape(b, channels, side * patch, side * patch);
    }

    /// <summary>Number of parameter values.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());
}

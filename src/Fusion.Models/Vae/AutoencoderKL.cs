using Fusion.Models.Layers;
using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Vae;

/// <summary>
/// LDM <c>DiagonalGaussianDistribution</c> over latents from the moments [B, 2·embed_dim, h, w]: the first half is the
/// mean, the second the log-variance clamped to [−30, 20].
/// </summary>
public sealed class DiagonalGaussian : IDisposable
{
    public DiagonalGaussian(Tensor moments)
    {
        var halves = moments.chunk(2, 1);
        Mean = halves[0];
        using var raw = halves[1];
        LogVar = raw.Clamp(-30.0, 20.0);
        Std = LogVar.Times(0.5).exp_();
    }

    public Tensor Mean { get; }
    public Tensor LogVar { get; }
    public Tensor Std { get; }

    /// <summary>
    /// mean + std·ε with ε ~ N(0, I) drawn from <paramref name="generator"/>: always an explicit one, since libtorch's
    /// default generator is shared by everything in the process (<see cref="TorchRandom"/>).
    /// </summary>
    public Tensor Sample(Generator generator)
    {
        using var eps = randn(Mean.shape, Mean.dtype, Mean.device, generator: generator);
        return Mean.Plus(Std * eps);
    }

    /// <summary>The distribution's mode (= its mean).</summary>
    public Tensor Mode() => Mean.alias();

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
    }
}

/// <summary>
/// The Stable Diffusion KL autoencoder as U-ViT's <c>FrozenAutoencoderKL</c> uses it, with LDM state-dict keys
/// (<c>encoder.*</c>, <c>decoder.*</c>, <c>quant_conv.*</c>, <c>post_quant_conv.*</c>). Images are [B, 3, H, W] in [−1, 1];
/// latents are scaled by <see cref="AutoencoderKLConfig.ScaleFactor"/> (0.23010 for U-ViT MS-COCO).
/// </summary>
public sealed class AutoencoderKL : nn.Module<Tensor, Tensor>
{
    private readonly Encoder encoder;
    private readonly Decoder decoder;
    private readonly SafeConv2d quant_conv, post_quant_conv;

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate();
        if (!config.DoubleZ) throw new ArgumentException("AutoencoderKL needs double_z = true (the encoder outputs mean and log-variance)");
        Config = config;
        encoder = new Encoder(config);
        decoder = new Decoder(config);
        quant_conv = new SafeConv2d(2 * config.ZChannels, 2 * config.EmbedDim, 1);
        post_quant_conv = new SafeConv2d(config.EmbedDim, config.ZChannels, 1);
        RegisterComponents();
    }

    public AutoencoderKLConfig Config { get; }

    /// <summary>U-ViT <c>encode_moments</c>: quant_conv(encoder(x)), [B, 2·embed_dim, H/f, W/f] (mean ‖ log-variance).</summary>
    public Tensor EncodeMoments(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != Config.InChannels || images.shape[2] % Config.DownsamplingFactor != 0 || images.shape[3] % Config.DownsamplingFactor != 0)
            throw new ArgumentException($"autoencoder input must be [B, {Config.InChannels}, H, W] with H and W multiples of {Config.DownsamplingFactor}, got {StateDict.Shape(images)}");
        using var h = encoder.forward(images);
        return quant_conv.forward(h);
    }

    /// <summary>U-ViT <c>sample</c>: scale · (mean + exp(0.5·clamp(logvar, −30, 20))·ε), ε from <paramref name="generator"/>.</summary>
    public Tensor Sample(Tensor moments, Generator generator)
    {
        using var posterior = new DiagonalGaussian(moments);
        using var z = posterior.Sample(generator);
        return z.Times(Config.ScaleFactor);
    }

    /// <summary>Scaled posterior mean (deterministic latents): scale · mean.</summary>
    public Tensor ScaledMean(Tensor moments)
    {
        using var posterior = new DiagonalGaussian(moments);
        return posterior.Mean.Times(Config.ScaleFactor);
    }

    /// <summary>Images → scaled sampled latents [B, embed_dim, H/f, W/f].</summary>
    public Tensor Encode(Tensor images, Generator generator)
    {
        using var moments = EncodeMoments(images);
        return Sample(moments, generator);
    }

    /// <summary>U-ViT <c>decode</c>: decoder(post_quant_conv(z / scale)); output roughly in [−1, 1], not clamped.</summary>
    public Tensor Decode(Tensor scaledLatents)
    {
        if (scaledLatents.dim() != 4 || scaledLatents.shape[1] != Config.EmbedDim)
            throw new ArgumentException($"autoencoder latents must be [B, {Config.EmbedDim}, h, w], got {StateDict.Shape(scaledLatents)}");
        using var scope = NewDisposeScope();
        return decoder.forward(post_quant_conv.forward(scaledLatents.Over(Config.ScaleFactor))).MoveToOuterDisposeScope();
    }

    /// <summary>Deterministic reconstruction: decode(scale · posterior mean).</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        return Decode(ScaledMean(EncodeMoments(images))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Strict load from LDM or diffusers key names (detected from the keys; see <see cref="VaeKeys.ToLdm"/>): every module
    /// tensor must be present with its shape. Deliberately ignored: the training loss (<c>loss.*</c>: LPIPS and
    /// discriminator) of LDM checkpoints, and, in full Stable Diffusion checkpoints, every key outside
    /// <c>first_stage_model.*</c>.
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> source, string sourceName)
    {
        var ldm = VaeKeys.ToLdm(source, Config);
        var borrowed = source.Values.ToHashSet(ReferenceEqualityComparer.Instance);
        try { StateDict.LoadStrict(this, ldm, sourceName, VaeKeys.IsTrainingOnlyKey); }
        finally { foreach (var t in ldm.Values) if (!borrowed.Contains(t)) t.Dispose(); } // only the reshaped views are ours
    }

    /// <summary>
    /// Builds a model of <paramref name="config"/> and loads a checkpoint: LDM <c>.pth</c>/<c>.ckpt</c> (zip pickle, the
    /// state dict possibly under <c>"state_dict"</c>), or safetensors with LDM or diffusers names. Eval mode.
    /// (U-ViT's <c>autoencoder_kl.pth</c> may be a legacy torch.save file; read it with the legacy reader and pass the
    /// dictionary to <see cref="LoadWeights"/>.)
    /// </summary>
    public static AutoencoderKL Load(string path, AutoencoderKLConfig config)
    {
        var model = TorchRandom.Unseeded(() => new AutoencoderKL(config));
        var sd = StateDict.Read(path, nestedKey: "state_dict");
        try { model.LoadWeights(sd, path); }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        model.eval();
        return model;
    }
}

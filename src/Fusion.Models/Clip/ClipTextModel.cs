using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>HF <c>CLIPTextEmbeddings</c>: token embedding + learned absolute positions.</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding, position_embedding;

    public ClipTextEmbeddings(ClipConfig c) : base(nameof(ClipTextEmbeddings))
    {
        token_embedding = nn.Embedding(c.VocabSize, c.Text.Width);
        position_embedding = nn.Embedding(c.ContextLength, c.Text.Width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
        var length = ids.shape[1];
        if (length > position_embedding.weight!.shape[0])
            throw new ArgumentException($"CLIP text input has {length} tokens, the model has {position_embedding.weight.shape[0]} positions");
        using var tokens = token_embedding.forward(ids);
        return tokens.Plus(position_embedding.weight.narrow(0, 0, length));
    }

    internal void Initialize()
    {
        ClipInit.Normal(token_embedding.weight!, 0.02);
        ClipInit.Normal(position_embedding.weight!, 0.02);
    }
}

/// <summary>
/// HF <c>CLIPTextTransformer</c> (keys <c>embeddings.*</c>, <c>encoder.layers.*</c>, <c>final_layer_norm.*</c>): causal
/// pre-LN transformer; the output is the last hidden state after <c>final_layer_norm</c>, [B, L, width] — U-ViT's
/// caption context. No padding mask: pad positions attend causally to what precedes them, as in U-ViT.
/// </summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ClipTextEmbeddings embeddings;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;

    public ClipTextTransformer(ClipConfig c) : base(nameof(ClipTextTransformer))
    {
        embeddings = new ClipTextEmbeddings(c);
        encoder = new ClipEncoder(c.Text, c.Activation, c.LayerNormEps, causal: true);
        final_layer_norm = nn.LayerNorm(c.Text.Width, c.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>ids [B, L] int64 → last hidden state [B, L, width].</summary>
    public override Tensor forward(Tensor ids)
    {
        if (ids.dim() != 2) throw new ArgumentException($"CLIP text input must be [B, L] token ids, got {StateDict.Shape(ids)}");
        using var scope = NewDisposeScope();
        return final_layer_norm.forward(encoder.forward(embeddings.forward(ids))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The hidden state at each row's end-of-text token, found as openai does: the first position of the largest id
    /// (<c>argmax</c>), which is the EOT (49407) even when padding repeats it.
    /// </summary>
    public static Tensor Pool(Tensor lastHiddenState, Tensor ids)
    {
        using var eot = ids.argmax(-1);
        using var count = ids.shape[0].ToScalar();
        using var rows = arange(count, device: ids.device);
        return lastHiddenState[rows, eot];
    }

    internal void Initialize(ClipConfig c)
    {
        embeddings.Initialize();
        encoder.Initialize(c.Text);
    }
}

/// <summary>
/// HF <c>CLIPTextModel</c>: the text tower alone, keys <c>text_model.*</c> (SD's <c>text_encoder/model.safetensors</c>);
/// <see cref="Load"/> also takes a full <c>CLIPModel</c> file and uses only its text tower. Frozen use: call
/// <c>eval()</c> and run under <c>no_grad()</c>.
/// </summary>
public sealed class ClipTextModel : nn.Module<Tensor, Tensor>
{
    private readonly ClipTextTransformer text_model;

    public ClipTextModel(ClipConfig config) : base(nameof(ClipTextModel))
    {
        config.Validate();
        Config = config;
        text_model = new ClipTextTransformer(config);
        RegisterComponents();
        text_model.Initialize(config);
        ClipInit.LayerNorms(this);
    }

    public ClipConfig Config { get; }

    /// <summary>ids [B, L] → last hidden state [B, L, width] (after the final LayerNorm).</summary>
    public override Tensor forward(Tensor ids) => text_model.forward(ids);

    /// <summary>The pooled (EOT) hidden state [B, width], not projected.</summary>
    public Tensor Pooled(Tensor ids)
    {
        using var h = forward(ids);
        return ClipTextTransformer.Pool(h, ids);
    }

    /// <summary>
    /// Strict load of the <c>text_model.*</c> tensors of <paramref name="source"/> (after removing
    /// <paramref name="prefix"/>, e.g. <c>cond_stage_model.transformer.</c> in SD checkpoints). Ignored, by design: the
    /// vision tower, both projections and <c>logit_scale</c> of a full CLIP file, <c>*.position_ids</c> buffers, and
    /// keys without the prefix. Every text key must be present with its shape.
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> source, string sourceName, string prefix = "")
    {
        var text = source.Where(kv => kv.Key.StartsWith(prefix + "text_model.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        StateDict.LoadStrict(this, text, sourceName, ClipModel.IsIgnoredKey);
    }

    /// <summary>Builds a model of <paramref name="config"/> and loads the text tower of a checkpoint file.</summary>
    public static ClipTextModel Load(string path, ClipConfig config, string prefix = "")
    {
        var model = TorchRandom.Unseeded(() => new ClipTextModel(config));
        var sd = StateDict.Read(path);
        try { model.LoadWeights(sd, path, prefix); }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        model.eval();
        return model;
    }
}

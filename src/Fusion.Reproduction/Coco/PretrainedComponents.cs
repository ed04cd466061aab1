using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Coco;

/// <summary>
/// One published file of a pretrained component: a file of a Hugging Face repository (<see cref="HubRepo"/>, fetched at
/// the commit the weights lock pins, never at a branch) or a file at a fixed <see cref="Url"/>.
/// <see cref="Sha256Prefix"/> is a partial digest the publisher states (pytorch-fid's file name carries one).
/// </summary>
public sealed record ComponentFile(string Name, string? HubRepo = null, Uri? Url = null, string? Sha256Prefix = null);

/// <summary>The frozen pretrained components of the MS-COCO pipeline, with their published download locations.</summary>
public enum PretrainedComponent
{
    /// <summary>openai/clip-vit-large-patch14 on the Hugging Face hub: HF CLIPModel weights and the tokenizer files.</summary>
    ClipVitLargePatch14,
    /// <summary>The SD KL-f8 autoencoder as U-ViT uses it (<c>autoencoder_kl.pth</c>, the byte copy on thu-ml/unidiffuser-v1).</summary>
    AutoencoderKl,
    /// <summary>pytorch-fid's FID Inception-v3 weights (GitHub release).</summary>
    FidInception,
}

public static class PretrainedComponents
{
    public const string ClipRepo = "openai/clip-vit-large-patch14";
    public const string AutoencoderRepo = "thu-ml/unidiffuser-v1";
    public static readonly Uri InceptionUrl = new("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth");

    /// <summary>
    /// Where each file comes from. Revisions and digests are not here but in the weights lock
    /// (<see cref="Weights.WeightsLock"/>), except the digest prefix pytorch-fid puts in its file name (torch.hub's
    /// convention: the first hex digits of the file's SHA-256).
    /// </summary>
    public static IReadOnlyList<ComponentFile> Files(PretrainedComponent c) => c switch
    {
        PretrainedComponent.ClipVitLargePatch14 => [new(ClipWeights, ClipRepo), new(ClipVocab, ClipRepo), new(ClipMerges, ClipRepo)],
        PretrainedComponent.AutoencoderKl => [new(Autoencoder, AutoencoderRepo)],
        PretrainedComponent.FidInception => [new(Inception, Url: InceptionUrl, Sha256Prefix: "6726825d")],
        _ => throw new ArgumentOutOfRangeException(nameof(c), c, "unknown pretrained component"),
    };

    /// <summary>The component's name in pipelines and in the weights lock (clip-vit-large-patch14, …).</summary>
    public static string Key(PretrainedComponent c) => ParamSchema.Kebab(c.ToString());

    public const string ClipWeights = "model.safetensors";
    public const string ClipVocab = "vocab.json";
    public const string ClipMerges = "merges.txt";
    public const string Autoencoder = "autoencoder_kl.pth";
    public const string Inception = "pt_inception-2015-12-05-6726825d.pth";

    /// <summary>Where a component's file lies inside a <c>fetch-weights</c> artifact.</summary>
    public static string ArtifactPath(string fileName) => "files/" + fileName;
}

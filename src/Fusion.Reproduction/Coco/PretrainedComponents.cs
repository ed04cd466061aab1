namespace Fusion.Reproduction.Coco;

/// <summary>One published file of a pretrained component; <see cref="Sha256"/> is null where no digest is pinned yet.</summary>
public sealed record ComponentFile(string Name, Uri Url, string? Sha256 = null);

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
    private const string ClipBase = "https://huggingface.co/openai/clip-vit-large-patch14/resolve/main/";

    /// <summary>No digest of these files is pinned in the reference notes yet: the first download records it.</summary>
    public static IReadOnlyList<ComponentFile> Files(PretrainedComponent c) => c switch
    {
        PretrainedComponent.ClipVitLargePatch14 =>
        [
            new(ClipWeights, new Uri(ClipBase + "model.safetensors")),
            new(ClipVocab, new Uri(ClipBase + "vocab.json")),
            new(ClipMerges, new Uri(ClipBase + "merges.txt")),
        ],
        PretrainedComponent.AutoencoderKl => [new(Autoencoder, new Uri("https://huggingface.co/thu-ml/unidiffuser-v1/resolve/main/autoencoder_kl.pth"))],
        PretrainedComponent.FidInception =>
            [new(Inception, new Uri("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"))],
        _ => throw new ArgumentOutOfRangeException(nameof(c), c, "unknown pretrained component"),
    };

    public const string ClipWeights = "model.safetensors";
    public const string ClipVocab = "vocab.json";
    public const string ClipMerges = "merges.txt";
    public const string Autoencoder = "autoencoder_kl.pth";
    public const string Inception = "pt_inception-2015-12-05-6726825d.pth";

    /// <summary>Where a component's file lies inside a <c>fetch-weights</c> artifact.</summary>
    public static string ArtifactPath(string fileName) => "files/" + fileName;
}

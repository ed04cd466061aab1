using System.Text.Json;
using Fusion.Models;
using Fusion.Models.Clip;
using Fusion.Models.Vae;
using Fusion.Reproduction.Coco;
using Fusion.Tests.Inception;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Tests.Support;

/// <summary>
/// Random-weight stand-ins for the pretrained files, in their published formats and small enough for tests: CLIP as HF
/// safetensors with a byte-level vocabulary, the KL autoencoder as a zip .pth with LDM names, FID Inception tensors as a
/// legacy .pth with pytorch-fid's names.
/// </summary>
public static class TinyPretrained
{
    public static readonly string[] ClipHyper =
        ["embed_dim=32", "image_resolution=32", "vision_layers=1", "vision_width=64", "vision_patch_size=8", "context_length=77",
         "vocab_size=49408", "transformer_width=64", "transformer_heads=2", "transformer_layers=1"];
    // Six levels: 256² images → 8² latents, so the U-ViT sees 16 patches of 2².
    public static readonly string[] VaeHyper = ["ch=32", "ch_mult=[1,1,1,1,1,1]", "num_res_blocks=1", "attn_resolutions=[]", "z_channels=4", "embed_dim=4"];

    public static ClipConfig ClipConfig => ClipConfig.FromOpenAIHyperparameters(Pairs(ClipHyper));
    public static AutoencoderKLConfig VaeConfig => AutoencoderKLConfig.FromLdmHyperparameters(Pairs(VaeHyper));

    private static Dictionary<string, string> Pairs(IEnumerable<string> items) => items.Select(h => h.Split('=')).ToDictionary(h => h[0], h => h[1]);

    /// <summary>A valid CLIP BPE vocabulary without merges: the 256 byte symbols, their end-of-word forms and the specials.</summary>
    public static void WriteByteLevelVocabulary(string vocabPath, string mergesPath)
    {
        var bytes = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var chars = bytes.ToList();
        var extra = 0;
        for (var b = 0; b < 256; b++)
            if (!bytes.Contains(b)) { bytes.Add(b); chars.Add(256 + extra++); }
        var vocab = new Dictionary<string, int>();
        for (var i = 0; i < 256; i++) vocab[((char)chars[i]).ToString()] = i;
        for (var i = 0; i < 256; i++) vocab[(char)chars[i] + "</w>"] = 256 + i;
        vocab["<|startoftext|>"] = 49406;
        vocab["<|endoftext|>"] = 49407;
        File.WriteAllText(vocabPath, JsonSerializer.Serialize(vocab));
        File.WriteAllText(mergesPath, "#version: 0.2\n");
    }

    /// <summary>The CLIP component's three files by name, from weights drawn with <paramref name="seed"/>.</summary>
    public static IReadOnlyDictionary<string, byte[]> Clip(long seed)
    {
        using var dir = new TempDir();
        using (var clip = TorchRandom.Seeded(seed, () => new ClipModel(ClipConfig))) clip.save_safetensors(dir[PretrainedComponents.ClipWeights]);
        WriteByteLevelVocabulary(dir[PretrainedComponents.ClipVocab], dir[PretrainedComponents.ClipMerges]);
        return new[] { PretrainedComponents.ClipWeights, PretrainedComponents.ClipVocab, PretrainedComponents.ClipMerges }
            .ToDictionary(f => f, f => File.ReadAllBytes(dir[f]));
    }

    public static byte[] Autoencoder(long seed)
    {
        using var dir = new TempDir();
        using (var vae = TorchRandom.Seeded(seed, () => new AutoencoderKL(VaeConfig))) vae.save_py(dir[PretrainedComponents.Autoencoder]);
        return File.ReadAllBytes(dir[PretrainedComponents.Autoencoder]);
    }

    /// <summary>Two of the FID Inception's tensors, under their names, as pytorch-fid's legacy file stores them.</summary>
    public static byte[] Inception(long seed)
    {
        var (conv, bn) = TorchRandom.Seeded(seed, () => (randn(32, 3, 3, 3), rand(32)));
        using (conv) using (bn)
            return LegacyTorchWriter.Write(
            [
                new("Conv2d_1a_3x3.conv.weight", new("0", conv.flatten().clone()), 0, conv.shape, conv.stride()),
                new("Conv2d_1a_3x3.bn.running_var", new("1", bn.clone()), 0, bn.shape, bn.stride()),
            ]);
    }
}

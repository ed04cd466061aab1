using Fusion.Models.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>
/// Loading and exporting U-ViT weights under the reference tensor names (e.g. upstream's <c>mscoco_uvit_small.pth</c>
/// into an early-concat network; our exports load into the authors' PyTorch modules with <c>load_state_dict</c>).
/// </summary>
public static class UViTCheckpoint
{
    /// <summary>Builds a network for <paramref name="config"/> and loads <paramref name="path"/> (safetensors or zip .pth) strictly.</summary>
    public static UViT Load(UViTConfig config, string path)
    {
        var model = TorchRandom.Unseeded(() => new UViT(config));
        StateDict.LoadStrict(model, path);
        return model;
    }

    /// <summary>
    /// The state dict under the reference names, in the reference order, as detached CPU copies in
    /// <paramref name="dtype"/> (float32 like the published checkpoints unless asked otherwise).
    /// </summary>
    public static Dictionary<string, Tensor> ReferenceStateDict(UViT model, ScalarType dtype = ScalarType.Float32)
    {
        using var _ = no_grad();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to(dtype, CPU).clone());
    }

    /// <summary>Writes a PyTorch zip-format state dict (torch.load + load_state_dict(strict=True) in the authors' code).</summary>
    public static void SavePyTorch(UViT model, string path, ScalarType dtype = ScalarType.Float32)
    {
        var sd = ReferenceStateDict(model, dtype);
        try
        {
            using var stream = File.Create(path);   // truncates: an older, longer file must not leave a tail
            PyTorchPickler.PickleStateDict(stream, sd);
        }
        finally { foreach (var t in sd.Values) t.Dispose(); }
    }
}

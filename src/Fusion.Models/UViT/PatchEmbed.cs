using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>SafeConv2d with kernel = stride = patch; tokens row-major over the patch grid: [B,C,H,W] → [B,(H/p)(W/p),D].</summary>
public sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    public readonly SafeConv2d proj;
    private readonly int _patch;

    public PatchEmbed(int patch, int inChannels, int dim, Device? device = null) : base(nameof(PatchEmbed))
    {
        _patch = patch;
        proj = new SafeConv2d(inChannels, dim, patch, stride: patch, device: device);
        register_module(nameof(proj), proj);
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[2] % _patch != 0 || x.shape[3] % _patch != 0)
            throw new ArgumentException($"latent shape [{string.Join(", ", x.shape)}] is not [B,C,H,W] with H and W multiples of the patch size {_patch}");
        using var scope = NewDisposeScope();
        return proj.call(x).flatten(2).transpose(1, 2).MoveToOuterDisposeScope();
    }
}

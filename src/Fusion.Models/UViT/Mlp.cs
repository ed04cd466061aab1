using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.UViT;

/// <summary>timm Mlp: fc1 → GELU (exact erf) → fc2; no dropout.</summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1;
    public readonly Linear fc2;

    public Mlp(int dim, int hidden, Device? device = null) : base(nameof(Mlp))
    {
        fc1 = nn.Linear(dim, hidden, device: device);
        fc2 = nn.Linear(hidden, dim, device: device);
        register_module(nameof(fc1), fc1);
        register_module(nameof(fc2), fc2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.call(nn.functional.gelu(fc1.call(x))).MoveToOuterDisposeScope();
    }
}

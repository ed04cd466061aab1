using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Fusion.Models.Layers;

/// <summary>
/// torch.nn.Conv2d (groups 1, dilation 1, zero padding) with its parameter names (<c>weight</c> [O, C, kH, kW],
/// <c>bias</c> [O]) and default initialisation, computed through <see cref="ConvKernels"/> so that no CPU convolution
/// reaches libtorch 2.10's faulty oneDNN kernels.
/// </summary>
public sealed class SafeConv2d : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    public Parameter? bias;
    public (long H, long W) Stride { get; }
    public (long H, long W) Padding { get; }

    public SafeConv2d(long inChannels, long outChannels, (long, long) kernel, (long, long)? stride = null, (long, long)? padding = null,
        bool bias = true, Device? device = null) : base(nameof(SafeConv2d))
    {
        Stride = stride ?? (1, 1);
        Padding = padding ?? (0, 0);
        // torch's own module draws the default initialisation (kaiming-uniform), so seeded weights are what nn.Conv2d gives.
        using (var init = nn.Conv2d(inChannels, outChannels, kernel, stride: Stride, padding: Padding, bias: bias, device: device))
        using (no_grad())
        {
            weight = new Parameter(init.weight!.detach().clone());
            this.bias = init.bias is { } b ? new Parameter(b.detach().clone()) : null;
        }
        register_parameter(nameof(weight), weight);
        if (this.bias is not null) register_parameter(nameof(bias), this.bias);
    }

    public SafeConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0, bool bias = true, Device? device = null)
        : this(inChannels, outChannels, (kernel, kernel), (stride, stride), (padding, padding), bias, device) { }

    public long InChannels => weight.shape[1];
    public long OutChannels => weight.shape[0];

    public override Tensor forward(Tensor x) => ConvKernels.Conv2d(x, weight, bias, Stride, Padding);
}

using Fusion.Models.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Fusion.Models.Inception;

/// <summary>
/// The FID Inception-v3 of pytorch-fid (`InceptionV3([3], resize_input=True, normalize_input=True,
/// use_fid_inception=True)`): images in [0,1] → bilinear resize to 299×299 (align_corners=False, no antialias) →
/// 2x−1 → the TF-ported Inception → global average pool → 2048-d "pool3" features. Module names are torchvision's, so
/// `pt_inception-2015-12-05-6726825d.pth` loads strictly (472 tensors + the 94 BatchNorm counters). Always in eval
/// mode: BatchNorm uses the stored running statistics.
/// </summary>
public sealed class FidInceptionV3 : nn.Module<Tensor, Tensor>
{
    public const int FeatureDim = 2048;
    public const int InputSize = 299;
    public const int Classes = 1008;

    private readonly BasicConv2d Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3;
    private readonly FidInceptionA Mixed_5b, Mixed_5c, Mixed_5d;
    private readonly InceptionB Mixed_6a;
    private readonly FidInceptionC Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
    private readonly InceptionD Mixed_7a;
    private readonly FidInceptionE Mixed_7b, Mixed_7c;
    private readonly Linear fc; // the TF graph's 1008-way classifier: stored in the checkpoint, unused for pool3

    public FidInceptionV3() : base(nameof(FidInceptionV3))
    {
        Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, stride: 2);
        Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3);
        Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, padding: 1);
        Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1);
        Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3);
        Mixed_5b = new FidInceptionA(192, 32);
        Mixed_5c = new FidInceptionA(256, 64);
        Mixed_5d = new FidInceptionA(288, 64);
        Mixed_6a = new InceptionB(288);
        Mixed_6b = new FidInceptionC(768, 128);
        Mixed_6c = new FidInceptionC(768, 160);
        Mixed_6d = new FidInceptionC(768, 160);
        Mixed_6e = new FidInceptionC(768, 192);
        Mixed_7a = new InceptionD(768);
        Mixed_7b = new FidInceptionE(1280, maxPool: false);
        Mixed_7c = new FidInceptionE(2048, maxPool: true);
        fc = nn.Linear(2048, Classes);
        RegisterComponents();
        eval();
    }

    /// <summary>
    /// Pool3 features [B, 2048] (float32) of images [B, 3, H, W] with values in [0,1] (any float dtype, any size).
    /// Resize and scaling run in float32; the network runs in the module's dtype (float32, or bfloat16 for speed).
    /// </summary>
    public Tensor Features(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"FID Inception expects images [B, 3, H, W], got [{string.Join(", ", images.shape)}]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = F.interpolate(images.to(float32), [InputSize, InputSize], mode: InterpolationMode.Bilinear, align_corners: false);
        x = x.Times(2).Minus(1).to(fc.weight!.dtype);
        return forward(x).to(float32).MoveToOuterDisposeScope();
    }

    /// <summary>The network on already resized and scaled input [B, 3, 299, 299] in [−1, 1] → pool3 [B, 2048].</summary>
    public override Tensor forward(Tensor x)
    {
        x = Conv2d_2b_3x3.forward(Conv2d_2a_3x3.forward(Conv2d_1a_3x3.forward(x)));
        x = F.max_pool2d(x, [3, 3], [2, 2]);
        x = Conv2d_4a_3x3.forward(Conv2d_3b_1x1.forward(x));
        x = F.max_pool2d(x, [3, 3], [2, 2]);
        x = Mixed_5d.forward(Mixed_5c.forward(Mixed_5b.forward(x)));
        x = Mixed_6e.forward(Mixed_6d.forward(Mixed_6c.forward(Mixed_6b.forward(Mixed_6a.forward(x)))));
        x = Mixed_7c.forward(Mixed_7b.forward(Mixed_7a.forward(x)));
        return F.adaptive_avg_pool2d(x, [1, 1]).flatten(1);
    }

    /// <summary>
    /// Loads a checkpoint with the pytorch-fid key names (legacy or zip `torch.save`, or safetensors) strictly. Files
    /// written before PyTorch 0.4.1 lack the BatchNorm `num_batches_tracked` counters, which eval mode never reads:
    /// only those may be missing (they are set to 0); every other key must be present with its shape.
    /// </summary>
    public static FidInceptionV3 FromCheckpoint(string path)
    {
        var model = TorchRandom.Unseeded(() => new FidInceptionV3());
        var sd = StateDict.Read(path);
        try
        {
            foreach (var (key, t) in model.state_dict())
                if (key.EndsWith(".num_batches_tracked", StringComparison.Ordinal) && !sd.ContainsKey(key))
                    sd[key] = zeros_like(t);
            StateDict.LoadStrict(model, sd, path);
        }
        finally { foreach (var t in sd.Values) t.Dispose(); }
        return model;
    }
}

using Fusion.Models.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Fusion.Models.Inception;

// The blocks of pytorch-fid's FID Inception (src/pytorch_fid/inception.py), with torchvision's attribute names so the
// state-dict keys match pt_inception-2015-12-05-6726825d.pth. The FID blocks differ from torchvision's only in their
// pool branch: TF's average pooling does not count the padding, and Mixed_7c (E_2) max-pools.

/// <summary>Conv2d (no bias) → BatchNorm2d(eps 0.001) → ReLU; keys `conv.weight`, `bn.*`.</summary>
public sealed class BasicConv2d : nn.Module<Tensor, Tensor>
{
    private readonly SafeConv2d conv;
    private readonly BatchNorm2d bn;

    public BasicConv2d(long cin, long cout, (long, long) kernel, (long, long)? stride = null, (long, long)? padding = null)
        : base(nameof(BasicConv2d))
    {
        conv = new SafeConv2d(cin, cout, kernel, stride: stride, padding: padding, bias: false);
        bn = nn.BatchNorm2d(cout, eps: 0.001);
        RegisterComponents();
    }

    public BasicConv2d(long cin, long cout, long kernel, long stride = 1, long padding = 0)
        : this(cin, cout, (kernel, kernel), (stride, stride), (padding, padding)) { }

    public override Tensor forward(Tensor x) => F.relu(bn.forward(conv.forward(x)), inplace: true);
}

/// <summary>Pool branches of the FID blocks: 3×3, stride 1, padding 1.</summary>
internal static class FidPool
{
    /// <summary>TF-style average pooling: padded cells are not counted (torchvision counts them).</summary>
    public static Tensor Average(Tensor x) => F.avg_pool2d(x, [3, 3], [1, 1], [1, 1], count_include_pad: false);

    public static Tensor Max(Tensor x) => F.max_pool2d(x, [3, 3], [1, 1], [1, 1]);
}

/// <summary>pytorch-fid FIDInceptionA (Mixed_5b/5c/5d).</summary>
public sealed class FidInceptionA : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool;

    public FidInceptionA(long cin, long poolFeatures) : base(nameof(FidInceptionA))
    {
        branch1x1 = new BasicConv2d(cin, 64, 1);
        branch5x5_1 = new BasicConv2d(cin, 48, 1);
        branch5x5_2 = new BasicConv2d(48, 64, 5, padding: 2);
        branch3x3dbl_1 = new BasicConv2d(cin, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, padding: 1);
        branch_pool = new BasicConv2d(cin, poolFeatures, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => cat([
        branch1x1.forward(x),
        branch5x5_2.forward(branch5x5_1.forward(x)),
        branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x))),
        branch_pool.forward(FidPool.Average(x)),
    ], 1);
}

/// <summary>torchvision InceptionB (Mixed_6a), unchanged in pytorch-fid.</summary>
public sealed class InceptionB : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;

    public InceptionB(long cin) : base(nameof(InceptionB))
    {
        branch3x3 = new BasicConv2d(cin, 384, 3, stride: 2);
        branch3x3dbl_1 = new BasicConv2d(cin, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => cat([
        branch3x3.forward(x),
        branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x))),
        F.max_pool2d(x, [3, 3], [2, 2]),
    ], 1);
}

/// <summary>pytorch-fid FIDInceptionC (Mixed_6b..6e): factorised 7×7 convolutions.</summary>
public sealed class FidInceptionC : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1, branch7x7_1, branch7x7_2, branch7x7_3,
        branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool;

    public FidInceptionC(long cin, long c7) : base(nameof(FidInceptionC))
    {
        branch1x1 = new BasicConv2d(cin, 192, 1);
        branch7x7_1 = new BasicConv2d(cin, c7, 1);
        branch7x7_2 = Row(c7, c7);
        branch7x7_3 = Column(c7, 192);
        branch7x7dbl_1 = new BasicConv2d(cin, c7, 1);
        branch7x7dbl_2 = Column(c7, c7);
        branch7x7dbl_3 = Row(c7, c7);
        branch7x7dbl_4 = Column(c7, c7);
        branch7x7dbl_5 = Row(c7, 192);
        branch_pool = new BasicConv2d(cin, 192, 1);
        RegisterComponents();
    }

    private static BasicConv2d Row(long cin, long cout) => new(cin, cout, (1, 7), padding: (0, 3));
    private static BasicConv2d Column(long cin, long cout) => new(cin, cout, (7, 1), padding: (3, 0));

    public override Tensor forward(Tensor x) => cat([
        branch1x1.forward(x),
        branch7x7_3.forward(branch7x7_2.forward(branch7x7_1.forward(x))),
        branch7x7dbl_5.forward(branch7x7dbl_4.forward(branch7x7dbl_3.forward(branch7x7dbl_2.forward(branch7x7dbl_1.forward(x))))),
        branch_pool.forward(FidPool.Average(x)),
    ], 1);
}

/// <summary>torchvision InceptionD (Mixed_7a), unchanged in pytorch-fid.</summary>
public sealed class InceptionD : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;

    public InceptionD(long cin) : base(nameof(InceptionD))
    {
        branch3x3_1 = new BasicConv2d(cin, 192, 1);
        branch3x3_2 = new BasicConv2d(192, 320, 3, stride: 2);
        branch7x7x3_1 = new BasicConv2d(cin, 192, 1);
        branch7x7x3_2 = new BasicConv2d(192, 192, (1, 7), padding: (0, 3));
        branch7x7x3_3 = new BasicConv2d(192, 192, (7, 1), padding: (3, 0));
        branch7x7x3_4 = new BasicConv2d(192, 192, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => cat([
        branch3x3_2.forward(branch3x3_1.forward(x)),
        branch7x7x3_4.forward(branch7x7x3_3.forward(branch7x7x3_2.forward(branch7x7x3_1.forward(x)))),
        F.max_pool2d(x, [3, 3], [2, 2]),
    ], 1);
}

/// <summary>
/// pytorch-fid FIDInceptionE_1 (Mixed_7b, average pool without padding cells) and FIDInceptionE_2 (Mixed_7c, max
/// pool — a quirk of the TF graph). Same parameters as torchvision InceptionE.
/// </summary>
public sealed class FidInceptionE : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b,
        branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branch_pool;
    private readonly bool maxPool;

    public FidInceptionE(long cin, bool maxPool) : base(maxPool ? "FidInceptionE_2" : "FidInceptionE_1")
    {
        this.maxPool = maxPool;
        branch1x1 = new BasicConv2d(cin, 320, 1);
        branch3x3_1 = new BasicConv2d(cin, 384, 1);
        branch3x3_2a = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3_2b = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch3x3dbl_1 = new BasicConv2d(cin, 448, 1);
        branch3x3dbl_2 = new BasicConv2d(448, 384, 3, padding: 1);
        branch3x3dbl_3a = new BasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3dbl_3b = new BasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch_pool = new BasicConv2d(cin, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var b3 = branch3x3_1.forward(x);
        var dbl = branch3x3dbl_2.forward(branch3x3dbl_1.forward(x));
        return cat([
            branch1x1.forward(x),
            cat([branch3x3_2a.forward(b3), branch3x3_2b.forward(b3)], 1),
            cat([branch3x3dbl_3a.forward(dbl), branch3x3dbl_3b.forward(dbl)], 1),
            branch_pool.forward(maxPool ? FidPool.Max(x) : FidPool.Average(x)),
        ], 1);
    }
}

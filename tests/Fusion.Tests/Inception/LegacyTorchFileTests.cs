using System.Text;
using Fusion.Models;
using Fusion.Models.Inception;
using Fusion.Models.Weights;
using Fusion.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;
using static Fusion.Tests.Inception.LegacyTorchWriter;

namespace Fusion.Tests.Inception;

public class LegacyTorchFileTests
{
    // Produced by fake_torch_save.py: CPython's pickler running torch 1.13's _legacy_save logic on fake torch classes
    // for the state dict of TwoStorageEntries() (storage values 0..n−1).
    private const string CPythonBytes =
        "80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903580d00" +
        "00006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f727471054b02580300" +
        "0000696e7471064b0458040000006c6f6e6771074b0875752e800263636f6c6c656374696f6e730a4f726465726564446963740a71002952" +
        "710128580100000077710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f" +
        "72616765710463746f7263680a466c6f617453746f726167650a7105580e0000003934303130303030303030303030710658030000006370" +
        "7571074b184e747108514b004b044b068671094b064b0186710a8968002952710b74710c52710d58020000007774710e6803282868046805" +
        "580e0000003934303130303030303030303030710f68074b184e747110514b004b064b048671114b014b0686711289680029527113747114" +
        "5271155803000000726f7771166803282868046805580e0000003934303130303030303030303030711768074b184e747118514b0c4b0685" +
        "71194b0185711a8968002952711b74711c52711d580100000062711e6803282868046805580e000000393430323030303030303030303071" +
        "1f68074b034e747120514b004b038571214b0185712289680029527123747124527125757d712658090000005f6d65746164617461712768" +
        "0029527128580000000071297d712a580700000076657273696f6e712b4b01737373622e80025d710028580e000000393430313030303030" +
        "30303030307101580e00000039343032303030303030303030307102652e1800000000000000000000000000803f00000040000040400000" +
        "80400000a0400000c0400000e040000000410000104100002041000030410000404100005041000060410000704100008041000088410000" +
        "9041000098410000a0410000a8410000b0410000b8410300000000000000000000000000803f00000040";

    private static readonly SavedStorage A = new("94010000000000", arange(24, dtype: float32));
    private static readonly SavedStorage B = new("94020000000000", arange(3, dtype: float32));

    // A [4,6] tensor, its transpose (non-contiguous strides) and one of its rows (storage offset 12) share storage A.
    private static Entry[] TwoStorageEntries() =>
    [
        new("w", A, 0, [4, 6], [6, 1]),
        new("wt", A, 0, [6, 4], [1, 6]),
        new("row", A, 12, [6], [1]),
        new("b", B, 0, [3], [1]),
    ];

    [Fact]
    public void WriterReproducesCPythonsBytes() =>
        Assert.Equal(CPythonBytes, Convert.ToHexStringLower(Write(TwoStorageEntries())));

    [Fact]
    public void ReadsStridedViewsSharingStoragesExactly()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["sd.pth"], Write(TwoStorageEntries()));
        Assert.True(LegacyTorchFile.IsLegacy(dir["sd.pth"]));
        var sd = LegacyTorchFile.ReadStateDict(dir["sd.pth"]);
        Assert.Equal(["w", "wt", "row", "b"], sd.Keys);
        foreach (var e in TwoStorageEntries())
        {
            var t = sd[e.Name];
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.Equal(e.Size, t.shape);
            Assert.Equal(e.Stride, t.stride());
            Assert.Equal(e.Offset, t.storage_offset());
            Assert.True(t.equal(e.Storage.Data.as_strided(e.Size, e.Stride, e.Offset)).all().item<bool>(), e.Name);
        }
        Assert.False(sd["wt"].is_contiguous());
        sd["w"][2, 0] = tensor(-5f); // element 12 of storage A: the first of "row", and "wt"[0, 2]
        Assert.Equal(-5f, sd["row"][0].item<float>());
        Assert.Equal(-5f, sd["wt"][0, 2].item<float>());
        Assert.Equal(0f, sd["b"][0].item<float>());
    }

    [Fact]
    public void KeepsMetadataDtypesAndZeroDimTensors()
    {
        using var dir = new TempDir();
        var ints = new SavedStorage("1", tensor(new long[] { 7 }));
        var doubles = new SavedStorage("2", tensor(new[] { 0.1, -2.5e300 }));
        File.WriteAllBytes(dir["x.pth"], Write([new("bn.num_batches_tracked", ints, 0, [], []), new("d", doubles, 0, [2], [1])]));
        var root = Assert.IsType<PickleOrderedDict>(LegacyTorchFile.Load(dir["x.pth"]));
        Assert.Contains("_metadata", root.Attributes.Keys);
        var n = Assert.IsAssignableFrom<Tensor>(root["bn.num_batches_tracked"]);
        Assert.Equal(0, n.dim());
        Assert.Equal(7L, n.item<long>());
        var d = Assert.IsAssignableFrom<Tensor>(root["d"]);
        Assert.Equal([0.1, -2.5e300], d.data<double>().ToArray());
    }

    [Fact]
    public void StateDictReadDispatchesLegacyFilesAndInceptionLoadsFromOne()
    {
        using var dir = new TempDir();
        // The whole FID Inception (random weights) as a legacy file without BatchNorm counters, as pre-0.4.1 files.
        using var reference = TorchRandom.Unseeded(() => new FidInceptionV3());
        var entries = new List<Entry>();
        var i = 0;
        foreach (var (key, t) in reference.state_dict())
            if (!key.EndsWith("num_batches_tracked"))
                entries.Add(new(key, new SavedStorage((1000 + i++).ToString(), t.flatten().clone()), 0, t.shape, t.stride()));
        File.WriteAllBytes(dir["pt_inception.pth"], Write(entries));
        Assert.Equal(472, StateDict.Read(dir["pt_inception.pth"]).Count);
        using var loaded = FidInceptionV3.FromCheckpoint(dir["pt_inception.pth"]);
        var expected = reference.state_dict();
        foreach (var (key, t) in loaded.state_dict())
            Assert.True(t.equal(expected[key]).all().item<bool>(), key);
    }

    [Fact]
    public void MissingTensorInLegacyCheckpointIsNamed()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["bad.pth"], Write(TwoStorageEntries()));
        var ex = Assert.Throws<InvalidDataException>(() => FidInceptionV3.FromCheckpoint(dir["bad.pth"]));
        Assert.Contains("missing key 'Conv2d_1a_3x3.conv.weight'", ex.Message);
        Assert.Contains("476 problem(s)", ex.Message); // 472 missing (the BatchNorm counters may be absent) + 4 unexpected
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("posix", "system")]
    [InlineData("torch._utils", "_rebuild_tensor")]
    [InlineData("torch", "load")]
    public void NonAllowListedGlobalsAreRefusedByName(string module, string name)
    {
        using var dir = new TempDir();
        // (module.name)("echo pwned") — the classic malicious pickle, inside an otherwise valid legacy file.
        var pickle = new MemoryStream();
        pickle.Write([0x80, 0x02]);
        pickle.Write(Encoding.ASCII.GetBytes($"c{module}\n{name}\nq\x00X\x0a\x00\x00\x00echo pwned\x85R."));
        File.WriteAllBytes(dir["evil.pth"], WithMainPickle(pickle.ToArray()));
        var ex = Assert.Throws<ForbiddenGlobalException>(() => StateDict.Read(dir["evil.pth"]));
        Assert.Equal($"{module}.{name}", ex.Global);
        Assert.Contains($"'{module}.{name}'", ex.Message);
        Assert.Contains("evil.pth", ex.Message);
    }

    [Fact]
    public void TruncatedFilesGiveClearErrors()
    {
        using var dir = new TempDir();
        var bytes = Write(TwoStorageEntries());
        var dataStart = bytes.Length - (8 + 24 * 4) - (8 + 3 * 4);
        foreach (var (cut, expect) in new[] { (10, "truncated"), (200, "truncated"), (dataStart + 4, "element count"), (bytes.Length - 5, "storage '94020000000000'") })
        {
            File.WriteAllBytes(dir["cut.pth"], bytes[..cut]);
            var ex = Assert.Throws<InvalidDataException>(() => LegacyTorchFile.Load(dir["cut.pth"]));
            Assert.Contains(expect, ex.Message);
            Assert.Contains("cut.pth", ex.Message);
        }
    }

    [Fact]
    public void NotALegacyFileIsRecognised()
    {
        Assert.False(LegacyTorchFile.IsLegacy("PK\x03\x04"u8));
        var ex = Assert.Throws<InvalidDataException>(() => LegacyTorchFile.Load(new MemoryStream([0x80, 0x02, 0x4b, 0x05, 0x2e]), "five.pkl"));
        Assert.Contains("not a legacy torch.save file", ex.Message);
    }
}

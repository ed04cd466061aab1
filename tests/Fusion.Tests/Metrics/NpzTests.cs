using System.IO.Compression;
using System.Text;
using Fusion.Models.Metrics;
using Fusion.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Tests.Metrics;

public class NpzTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StatisticsRoundTripThroughNpz(bool compress)
    {
        using var dir = new TempDir();
        var gen = new Generator(11);
        using var stats = ActivationStatistics.Of(randn([40, 7], dtype: float64, generator: gen));
        stats.SaveNpz(dir["stats.npz"], compress);
        using var back = ActivationStatistics.LoadNpz(dir["stats.npz"]);
        Assert.True(back.Mean.equal(stats.Mean).all().item<bool>());
        Assert.True(back.Covariance.equal(stats.Covariance).all().item<bool>());
        using var zip = ZipFile.OpenRead(dir["stats.npz"]);
        Assert.Equal(["mu.npy", "sigma.npy"], zip.Entries.Select(e => e.FullName));
    }

    [Fact]
    public void NpyHeaderIsNumpysLayout()
    {
        var s = new MemoryStream();
        Npy.Write(s, new NpyArray([2, 3], [1, 2, 3, 4, 5, 6]));
        var bytes = s.ToArray();
        var headerLength = BitConverter.ToUInt16(bytes, 8);
        var header = Encoding.Latin1.GetString(bytes, 10, headerLength);
        Assert.Equal("\x93NUMPY\x01\x00", Encoding.Latin1.GetString(bytes, 0, 8));
        Assert.StartsWith("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", header);
        Assert.EndsWith(" \n", header);
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Equal(10 + headerLength + 48, bytes.Length);
        Assert.Equal(3.0, BitConverter.ToDouble(bytes, 10 + headerLength + 16));
    }

    private static byte[] Hand(string descr, string fortran, string shape, byte[] data, int version = 1)
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}".PadRight(117) + "\n";
        var s = new MemoryStream();
        s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0]);
        if (version == 1) s.Write(BitConverter.GetBytes((ushort)header.Length)); else s.Write(BitConverter.GetBytes((uint)header.Length));
        s.Write(Encoding.Latin1.GetBytes(header));
        s.Write(data);
        return s.ToArray();
    }

    [Fact]
    public void ReadsFloat32AndVersion2Headers()
    {
        var f32 = new[] { 1.5f, -2.25f, 3f };
        var a = Npy.Read(new MemoryStream(Hand("<f4", "False", "(3,)", f32.SelectMany(BitConverter.GetBytes).ToArray())), "f4.npy");
        Assert.Equal([3L], a.Shape);
        Assert.Equal([1.5, -2.25, 3.0], a.Data);
        var b = Npy.Read(new MemoryStream(Hand("<f8", "False", "(1, 2)", new[] { 0.1, 0.2 }.SelectMany(BitConverter.GetBytes).ToArray(), version: 2)), "v2.npy");
        Assert.Equal([1L, 2], b.Shape);
        Assert.Equal([0.1, 0.2], b.Data);
    }

    [Theory]
    [InlineData(">f8", "False", "(1,)", 8, "unsupported dtype '>f8'")]
    [InlineData("<i8", "False", "(1,)", 8, "unsupported dtype '<i8'")]
    [InlineData("<f8", "True", "(1,)", 8, "fortran_order: True")]
    [InlineData("<f8", "False", "(4,)", 8, "truncated")]
    public void BadArraysAreRefusedClearly(string descr, string fortran, string shape, int bytes, string message)
    {
        var ex = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(Hand(descr, fortran, shape, new byte[bytes])), "bad.npy"));
        Assert.Contains(message, ex.Message);
        Assert.Contains("bad.npy", ex.Message);
    }

    [Fact]
    public void MissingArraysAndNonZipFilesAreNamed()
    {
        using var dir = new TempDir();
        Npz.Write(dir["only_mu.npz"], [("mu", new NpyArray([2], [1, 2]))]);
        Assert.Contains("no 'sigma' array", Assert.Throws<InvalidDataException>(() => ActivationStatistics.LoadNpz(dir["only_mu.npz"])).Message);
        File.WriteAllText(dir["text.npz"], "not a zip");
        Assert.Contains("text.npz", Assert.Throws<InvalidDataException>(() => ActivationStatistics.LoadNpz(dir["text.npz"])).Message);
    }
}

using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Fusion.Models.Metrics;

/// <summary>A numpy array read as float64, row-major (C order).</summary>
public sealed record NpyArray(long[] Shape, double[] Data);

/// <summary>
/// The .npy format (versions 1–3): magic "\x93NUMPY", version, header length, a Python-dict header
/// (`{'descr': '&lt;f8', 'fortran_order': False, 'shape': (…), }`), raw data. Reads little-endian float64 ('&lt;f8')
/// and float32 ('&lt;f4') in C order; writes '&lt;f8' v1.0 with the header padded as numpy does (to 64 bytes).
/// </summary>
public static partial class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(Stream s, string source)
    {
        var pre = ReadExactly(s, 8, source, "the .npy preamble");
        if (!pre.AsSpan(0, 6).SequenceEqual(Magic)) throw new InvalidDataException($"{source}: not a .npy array (bad magic)");
        var major = pre[6];
        var headerLength = major switch
        {
            1 => BinaryPrimitives.ReadUInt16LittleEndian(ReadExactly(s, 2, source, "the header length")),
            2 or 3 => (int)BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(s, 4, source, "the header length")),
            _ => throw new InvalidDataException($"{source}: unsupported .npy version {major}.{pre[7]}"),
        };
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(ReadExactly(s, headerLength, source, "the header"));
        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shapeMatch = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shapeMatch.Success) throw new InvalidDataException($"{source}: malformed .npy header {header.Trim()}");
        if (fortran.Groups[1].Value == "True") throw new InvalidDataException($"{source}: Fortran-order arrays are not supported (fortran_order: True)");
        var shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var count = shape.Aggregate(1L, (a, b) => a * b);
        var type = descr.Groups[1].Value;
        var elementSize = type switch
        {
            "<f8" => 8,
            "<f4" => 4,
            _ => throw new InvalidDataException($"{source}: unsupported dtype '{type}' (only little-endian float64 '<f8' and float32 '<f4')"),
        };
        if (count * elementSize > Array.MaxLength) throw new InvalidDataException($"{source}: array of {count} elements is too large");
        var raw = ReadExactly(s, (int)(count * elementSize), source, $"the data ({count} × {type})");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("reading .npy needs a little-endian machine");
        var data = elementSize == 8 ? MemoryMarshal.Cast<byte, double>(raw).ToArray()
                                    : Array.ConvertAll(MemoryMarshal.Cast<byte, float>(raw).ToArray(), f => (double)f);
        return new NpyArray(shape, data);
    }

    public static void Write(Stream s, NpyArray array)
    {
        if (array.Shape.Aggregate(1L, (a, b) => a * b) != array.Data.LongLength)
            throw new ArgumentException($"shape ({string.Join(", ", array.Shape)}) does not hold {array.Data.Length} values");
        var shape = array.Shape.Length == 1 ? $"({array.Shape[0]},)" : "(" + string.Join(", ", array.Shape) + ")";
        var dict = $"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}";
        var total = (10 + dict.Length + 1 + 63) / 64 * 64; // preamble + header + '\n', padded to 64 like numpy
        var header = dict.PadRight(total - 10 - 1) + "\n";
        s.Write(Magic);
        s.Write([1, 0]);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, checked((ushort)header.Length));
        s.Write(len);
        s.Write(Encoding.Latin1.GetBytes(header));
        s.Write(MemoryMarshal.AsBytes(array.Data.AsSpan()));
    }

    private static byte[] ReadExactly(Stream s, int n, string source, string what)
    {
        var buffer = new byte[n];
        var read = s.ReadAtLeast(buffer, n, throwOnEndOfStream: false);
        return read == n ? buffer : throw new InvalidDataException($"{source}: truncated .npy: {what} needs {n} bytes, {read} present");
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")] private static partial Regex DescrRegex();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranRegex();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRegex();
}

/// <summary>.npz = a zip of .npy entries named "&lt;key&gt;.npy" (np.savez stores, np.savez_compressed deflates).</summary>
public static class Npz
{
    public static Dictionary<string, NpyArray> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"statistics file not found: {path}", path);
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: not an .npz (zip) file: {e.Message}", e); }
        using (zip)
        {
            var result = new Dictionary<string, NpyArray>();
            foreach (var entry in zip.Entries)
            {
                var key = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                using var s = entry.Open();
                result[key] = Npy.Read(s, $"{path}:{entry.FullName}");
            }
            return result;
        }
    }

    public static void Write(string path, IEnumerable<(string Key, NpyArray Array)> arrays, bool compress = false)
    {
        var tmp = path + ".tmp";
        using (var zip = ZipFile.Open(tmp, ZipArchiveMode.Create))
            foreach (var (key, array) in arrays)
            {
                using var s = zip.CreateEntry(key + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression).Open();
                Npy.Write(s, array);
            }
        File.Move(tmp, path, overwrite: true);
    }
}

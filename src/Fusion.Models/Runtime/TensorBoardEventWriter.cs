using System.Buffers.Binary;
using Google.Protobuf;
using WireType = Google.Protobuf.WireFormat.WireType;

namespace Fusion.Models;

/// <summary>
/// Writes a TensorBoard event file of scalar summaries: TFRecord framing (uint64 length, masked CRC-32C of the length,
/// an <c>Event</c> protobuf, masked CRC-32C of it), flushed after every event so TensorBoard shows a run while it
/// trains. Not TorchSharp 0.107's SummaryWriter: its first record carries the time it was created (in DateTime ticks
/// where TensorBoard expects Unix seconds) and its file name the time, host and process, so its files can never be part
/// of a byte-reproducible artifact; it also takes wall times in whole seconds.
/// </summary>
public sealed class TensorBoardEventWriter : IDisposable
{
    /// <summary>TensorBoard reads the files of a folder whose names contain "tfevents".</summary>
    public const string FilePrefix = "events.out.tfevents.";

    private readonly FileStream _file;

    public string FilePath { get; }

    /// <summary>Creates (or replaces) <paramref name="path"/> and writes the file-version event TensorBoard expects first.</summary>
    public TensorBoardEventWriter(string path, double wallTime)
    {
        if (!System.IO.Path.GetFileName(path).Contains("tfevents", StringComparison.Ordinal))
            throw new ArgumentException($"TensorBoard ignores event files whose name lacks 'tfevents': {path}", nameof(path));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        FilePath = path;
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        Write(Event(wallTime, 0, o => { o.WriteTag(3, WireType.LengthDelimited); o.WriteString("brain.Event:2"); }));
    }

    /// <summary>One event at <paramref name="step"/> holding every (tag, value) as a simple_value.</summary>
    public void Scalars(long step, double wallTime, IReadOnlyList<(string Tag, float Value)> values)
    {
        using var summary = new MemoryStream();
        using (var o = new CodedOutputStream(summary, leaveOpen: true))
            foreach (var (tag, value) in values)
            {
                var item = Message(v =>
                {
                    v.WriteTag(1, WireType.LengthDelimited); v.WriteString(tag);
                    v.WriteTag(2, WireType.Fixed32); v.WriteFloat(value);
                });
                o.WriteTag(1, WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(item));
            }
        var bytes = summary.ToArray();
        Write(Event(wallTime, step, o => { o.WriteTag(5, WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(bytes)); }));
    }

    // Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    private static byte[] Event(double wallTime, long step, Action<CodedOutputStream> body) => Message(o =>
    {
        o.WriteTag(1, WireType.Fixed64); o.WriteDouble(wallTime);
        if (step != 0) { o.WriteTag(2, WireType.Varint); o.WriteInt64(step); }
        body(o);
    });

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        using (var o = new CodedOutputStream(buffer, leaveOpen: true)) write(o);
        return buffer.ToArray();
    }

    private void Write(byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(data));
        _file.Write(header);
        _file.Write(data);
        _file.Write(footer);
        _file.Flush();
    }

    // TFRecord's mask keeps CRCs of data that itself holds CRCs from being confusable.
    private static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(i =>
    {
        var c = (uint)i;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>CRC-32C (Castagnoli, reflected), as TFRecord uses it.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    public void Dispose() => _file.Dispose();
}

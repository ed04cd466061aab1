using System.Buffers.Binary;
using System.Numerics;
using Google.Protobuf;
using Tensorboard;

namespace Fusion.Models;

/// <summary>
/// Writes a TensorBoard event file of scalar summaries: TFRecord framing (uint64 length, masked CRC-32C of the length,
/// an <c>Event</c> protobuf, masked CRC-32C of it), flushed after every event so TensorBoard shows a run while it
/// trains. The messages are TensorBoard's own protobuf classes as TorchSharp ships them (proto3: a zero wall_time or
/// step is left out). Not TorchSharp 0.107's SummaryWriter: its first record carries the time it was created (in
/// DateTime ticks where TensorBoard expects Unix seconds) and its file name the time, host and process, so its files
/// can never be part of a byte-reproducible artifact; it also takes wall times in whole seconds.
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
        Write(new Event { WallTime = wallTime, FileVersion = "brain.Event:2" });
    }

    /// <summary>One event at <paramref name="step"/> holding every (tag, value) as a simple_value.</summary>
    public void Scalars(long step, double wallTime, IReadOnlyList<(string Tag, float Value)> values)
    {
        var summary = new Summary();
        foreach (var (tag, value) in values) summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = value });
        Write(new Event { WallTime = wallTime, Step = step, Summary = summary });
    }

    private static readonly byte[] ZeroWallTime = [0x09, 0, 0, 0, 0, 0, 0, 0, 0];

    private void Write(Event e)
    {
        // proto3 leaves a zero wall_time out; committed files (wall_time 0, for reproducible bytes) keep it as field 1,
        // as the wire format allows, so their bytes stay those this project has always committed.
        var data = e.WallTime == 0 ? [.. ZeroWallTime, .. e.ToByteArray()] : e.ToByteArray();
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

    /// <summary>CRC-32C (Castagnoli, reflected; initial and final value all ones), as TFRecord uses it.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        for (; data.Length >= 8; data = data[8..]) crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    public void Dispose() => _file.Dispose();
}

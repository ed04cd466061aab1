using System.Runtime.InteropServices;
using Fusion.Artifacts.Tables;
using static TorchSharp.torch;

namespace Fusion.Reproduction.Stages;

/// <summary>
/// Tensor tables read whole into one stacked tensor [N, …spec], with each row's keys, in file order: int64 keys (caption
/// or image ids) or string keys (grid prompts), and image ids (the key where the table has none).
/// </summary>
public sealed record StackedRows(long[] Keys, IReadOnlyList<string> StringKeys, long[] ImageIds, Tensor Values);

public static class TableTensors
{
    /// <summary>Reads <paramref name="paths"/> (shards of one table: every one must hold the first one's spec); uint8 or float32.</summary>
    public static async Task<StackedRows> ReadAsync(IEnumerable<string> paths, CancellationToken ct)
    {
        var (keys, stringKeys, ids, payloads) = (new List<long>(), new List<string>(), new List<long>(), new List<byte[]>());
        TensorSpec? spec = null;
        string? first = null;
        foreach (var path in paths)
        {
            await using var reader = await TensorTableReader.OpenAsync(path, spec, ct);
            (spec, first) = (reader.Spec, first ?? path);
            await foreach (var row in reader.ReadAllAsync(ct))
            {
                if (row.StringKey is { } key) stringKeys.Add(key); else keys.Add(row.Int64Key);
                ids.Add(row.ImageId ?? row.Int64Key);
                payloads.Add(row.Payload);
            }
        }
        if (spec is null) throw new InvalidDataException("no table to read (no shard files)");
        var flat = new byte[(long)payloads.Count * spec.ByteSize];
        for (var i = 0; i < payloads.Count; i++) payloads[i].CopyTo(flat, (long)i * spec.ByteSize);
        long[] shape = [payloads.Count, .. spec.Shape.Select(d => (long)d)];
        var values = spec.DType switch
        {
            TensorDType.UInt8 => tensor(flat, shape),
            TensorDType.Float32 => tensor(MemoryMarshal.Cast<byte, float>(flat).ToArray(), shape),
            _ => throw new InvalidDataException($"{first}: expected uint8 or float32 rows, the table holds {spec}"),
        };
        return new StackedRows(keys.ToArray(), stringKeys, ids.ToArray(), values);
    }
}

using System.Runtime.InteropServices;
using Fusion.Artifacts.Tables;

namespace Fusion.Reproduction.Stages;

/// <summary>One caption to encode: an int64 key (caption id) or a string key (a grid prompt), its image id and text.</summary>
public readonly record struct CaptionToEncode(long Key, string? StringKey, long ImageId, string Text);

/// <summary>
/// Writes caption-context tables (the text artifacts the train and sample stages read): captions encoded in batches by
/// a text tower into a tensor table keyed by caption id (with image ids) or by prompt.
/// </summary>
public static class ContextTables
{
    /// <param name="encode">Text tower: a batch of texts → their contexts, row-major float32 [batch, …spec].</param>
    /// <param name="progress">Called with the number of captions encoded by this call so far.</param>
    public static async Task WriteAsync(string path, TensorSpec spec, IReadOnlyList<CaptionToEncode> rows, bool withImageId,
        Func<IReadOnlyList<string>, float[]> encode, int batchSize, Action<int>? progress, CancellationToken ct)
    {
        var stringKeys = rows.Count > 0 && rows[0].StringKey is not null;
        await using var writer = await TensorTableWriter.CreateAsync(path, spec, stringKeys ? TensorKeyType.String : TensorKeyType.Int64,
            withImageId: withImageId, ct: ct);
        var per = (int)spec.ElementCount;
        for (var start = 0; start < rows.Count; start += batchSize)
        {
            ct.ThrowIfCancellationRequested();
            var batch = rows.Skip(start).Take(batchSize).ToList();
            var hidden = encode(batch.Select(r => r.Text).ToList());
            for (var i = 0; i < batch.Count; i++)
            {
                long? imageId = withImageId ? batch[i].ImageId : null;
                if (batch[i].StringKey is { } key) await writer.AddAsync(key, MemoryMarshal.AsBytes(hidden.AsSpan(i * per, per)), imageId, ct);
                else await writer.AddAsync(batch[i].Key, hidden.AsSpan(i * per, per), imageId, ct);
            }
            progress?.Invoke(start + batch.Count);
        }
        await writer.CompleteAsync(ct);
    }
}

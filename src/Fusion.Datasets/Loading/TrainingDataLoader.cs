using System.Globalization;
using Fusion.Artifacts.Tables;
using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Datasets.Loading;

/// <summary>
/// Where the loader stands: the next batch to deliver is batch <see cref="Batch"/> of epoch <see cref="Epoch"/>.
/// Together with the seed it fixes everything that follows, so saving it with a checkpoint and seeking to it on resume
/// continues the exact same stream. Text form "epoch:batch".
/// </summary>
public readonly record struct LoaderPosition(long Epoch, int Batch)
{
    public override string ToString() => $"{Epoch.ToString(CultureInfo.InvariantCulture)}:{Batch.ToString(CultureInfo.InvariantCulture)}";

    public static LoaderPosition Parse(string text)
    {
        var parts = text.Split(':');
        return parts.Length == 2 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var e) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var b) && e >= 0 && b >= 0
            ? new LoaderPosition(e, b)
            : throw new FormatException($"loader position '{text}' is not 'epoch:batch'");
    }
}

public sealed record TrainingDataOptions
{
    public required int BatchSize { get; init; }
    public required long Seed { get; init; }
    /// <summary>Image row groups shuffled together (memory ≈ 2 windows: the current and the prefetched one).</summary>
    public int WindowRowGroups { get; init; } = 2;
}

/// <summary>
/// One training batch as float arrays (row-major, batch first): the image tensors (latent moments for COCO; pixels
/// for shapes, uint8 stored pixels mapped to x/127.5 − 1) and one caption embedding per image.
/// </summary>
public sealed record TrainingBatch(LoaderPosition Position, long[] ImageIds, long[] CaptionIds, float[] Images, TensorSpec ImageSpec,
    float[] Contexts, TensorSpec ContextSpec)
{
    public int Count => ImageIds.Length;

    /// <summary>(images [B, …image shape], contexts [B, …context shape]) as float32 tensors on <paramref name="device"/>.</summary>
    public (Tensor Images, Tensor Contexts) ToTensors(Device? device = null)
    {
        long[] Shape(TensorSpec s) => [Count, .. s.Shape.Select(d => (long)d)];
        var x = tensor(Images, Shape(ImageSpec));
        var c = tensor(Contexts, Shape(ContextSpec));
        if (device is null || device.type == DeviceType.CPU) return (x, c);
        using (x) using (c) return (x.to(device), c.to(device));
    }
}

/// <summary>
/// Streams training batches from tensor-table shards with bounded memory: image tables (key = image id; COCO moments
/// or shapes pixels) and caption-embedding tables (key = caption id, with image_id). Each epoch visits every image
/// that has captions once: image row groups in a seeded random order, shuffled within windows of
/// <see cref="TrainingDataOptions.WindowRowGroups"/> row groups, with one caption per image drawn uniformly at random
/// afresh each epoch (SplitMix64 of seed, epoch, image id — as the reference draws a random caption per access).
/// Incomplete last batches are dropped (drop_last). Only the current window and the prefetched next one are in memory.
/// </summary>
public sealed class TrainingDataLoader : IAsyncDisposable
{
    sealed record Block(int Shard, int RowGroup, long[] ImageIds);
    readonly record struct CaptionRef(int Shard, int RowGroup, int Row, long CaptionId);
    sealed record Window(long Epoch, int Index, long[] ImageIds, byte[][] Images, long[] CaptionIds, byte[][] Contexts);

    readonly TensorTableReader[] _images, _captions;
    readonly TrainingDataOptions _o;
    readonly List<Block> _blocks;
    readonly Dictionary<long, List<CaptionRef>> _captionsOf;
    (long Epoch, int[] Order, long[] WindowStart)? _plan;
    Window? _current;
    Task<Window>? _prefetch;

    public TensorSpec ImageSpec { get; }
    public TensorSpec ContextSpec { get; }
    /// <summary>Images that have at least one caption (the epoch size).</summary>
    public long ImageCount { get; }
    public int BatchesPerEpoch { get; }
    public IReadOnlyList<long> ImagesWithoutCaptions { get; }
    public long CaptionsOfUnknownImages { get; }
    public LoaderPosition Position { get; private set; }

    TrainingDataLoader(TensorTableReader[] images, TensorTableReader[] captions, TrainingDataOptions o, List<Block> blocks,
        Dictionary<long, List<CaptionRef>> captionsOf, List<long> uncaptioned, long orphans)
    {
        (_images, _captions, _o, _blocks, _captionsOf) = (images, captions, o, blocks, captionsOf);
        ImageSpec = images[0].Spec;
        ContextSpec = captions[0].Spec;
        ImagesWithoutCaptions = uncaptioned;
        CaptionsOfUnknownImages = orphans;
        ImageCount = blocks.Sum(b => (long)b.ImageIds.Length);
        BatchesPerEpoch = checked((int)(ImageCount / o.BatchSize));
    }

    public static async Task<TrainingDataLoader> OpenAsync(IReadOnlyList<string> imageShards, IReadOnlyList<string> captionShards,
        TrainingDataOptions options, CancellationToken ct = default)
    {
        if (imageShards.Count == 0 || captionShards.Count == 0) throw new ArgumentException("the loader needs at least one image shard and one caption shard");
        if (options.BatchSize <= 0 || options.WindowRowGroups <= 0) throw new ArgumentException($"batch size ({options.BatchSize}) and window ({options.WindowRowGroups}) must be positive");
        var images = new List<TensorTableReader>();
        var captions = new List<TensorTableReader>();
        try
        {
            foreach (var p in imageShards) images.Add(await TensorTableReader.OpenAsync(p, images.FirstOrDefault()?.Spec, ct));
            foreach (var p in captionShards)
            {
                var r = await TensorTableReader.OpenAsync(p, captions.FirstOrDefault()?.Spec, ct);
                captions.Add(r);
                if (!r.HasImageId) throw new ArgumentException($"{p}: caption-embedding table has no image_id column");
                if (r.KeyType != TensorKeyType.Int64) throw new ArgumentException($"{p}: caption-embedding keys must be int64 caption ids");
            }
            if (images.FirstOrDefault(r => r.KeyType != TensorKeyType.Int64) is { } sk) throw new ArgumentException($"{sk.Path}: image keys must be int64 image ids");

            var captionsOf = new Dictionary<long, List<CaptionRef>>();
            for (var s = 0; s < captions.Count; s++)
                for (var g = 0; g < captions[s].RowGroupCount; g++)
                {
                    var keys = await captions[s].ReadRowGroupAsync(g, payloads: false, ct);
                    for (var r = 0; r < keys.Count; r++)
                    {
                        if (!captionsOf.TryGetValue(keys.ImageIds![r], out var list)) captionsOf[keys.ImageIds[r]] = list = [];
                        list.Add(new CaptionRef(s, g, r, keys.Int64Keys![r]));
                    }
                }
            var blocks = new List<Block>();
            var uncaptioned = new List<long>();
            var seen = new HashSet<long>();
            for (var s = 0; s < images.Count; s++)
                for (var g = 0; g < images[s].RowGroupCount; g++)
                {
                    var keys = (await images[s].ReadRowGroupAsync(g, payloads: false, ct)).Int64Keys!;
                    foreach (var k in keys)
                        if (!seen.Add(k)) throw new ArgumentException($"{images[s].Path}: image id {k} appears more than once in the image shards");
                    uncaptioned.AddRange(keys.Where(k => !captionsOf.ContainsKey(k)));
                    var usable = keys.Where(captionsOf.ContainsKey).ToArray();
                    if (usable.Length > 0) blocks.Add(new Block(s, g, usable));
                }
            var orphans = captionsOf.Where(kv => !seen.Contains(kv.Key)).Sum(kv => (long)kv.Value.Count);
            var loader = new TrainingDataLoader(images.ToArray(), captions.ToArray(), options, blocks, captionsOf, uncaptioned, orphans);
            if (loader.BatchesPerEpoch == 0)
                throw new ArgumentException($"{loader.ImageCount} captioned images are fewer than one batch of {options.BatchSize}");
            return loader;
        }
        catch
        {
            foreach (var r in images.Concat(captions)) await r.DisposeAsync();
            throw;
        }
    }

    /// <summary>Continue from <paramref name="position"/> (e.g. the one saved with a checkpoint).</summary>
    public void Seek(LoaderPosition position)
    {
        if (position.Batch >= BatchesPerEpoch) throw new ArgumentOutOfRangeException(nameof(position), $"batch {position.Batch} of an epoch of {BatchesPerEpoch}");
        Position = position;
    }

    /// <summary>The batch at <see cref="Position"/>; advances the position.</summary>
    public async Task<TrainingBatch> NextAsync(CancellationToken ct = default)
    {
        var pos = Position;
        var b = _o.BatchSize;
        var ids = new long[b]; var caps = new long[b];
        var x = new float[b * ImageSpec.ElementCount]; var c = new float[b * ContextSpec.ElementCount];
        var first = (long)pos.Batch * b;
        for (var i = 0; i < b; i++)
        {
            var (w, k) = await ItemAsync(pos.Epoch, first + i, ct);
            ids[i] = w.ImageIds[k];
            caps[i] = w.CaptionIds[k];
            Decode(ImageSpec, w.Images[k], x.AsSpan(i * (int)ImageSpec.ElementCount, (int)ImageSpec.ElementCount), pixels: true);
            Decode(ContextSpec, w.Contexts[k], c.AsSpan(i * (int)ContextSpec.ElementCount, (int)ContextSpec.ElementCount), pixels: false);
        }
        Position = pos.Batch + 1 < BatchesPerEpoch ? pos with { Batch = pos.Batch + 1 } : new LoaderPosition(pos.Epoch + 1, 0);
        return new TrainingBatch(pos, ids, caps, x, ImageSpec, c, ContextSpec);
    }

    static void Decode(TensorSpec spec, byte[] payload, Span<float> dst, bool pixels)
    {
        TensorPayload.DecodeToFloat(spec.DType, payload, dst);
        if (pixels && spec.DType == TensorDType.UInt8)
            for (var i = 0; i < dst.Length; i++) dst[i] = dst[i] / 127.5f - 1f;
    }

    /// <summary>The window holding item <paramref name="item"/> of the epoch and the item's index in it.</summary>
    async Task<(Window, int)> ItemAsync(long epoch, long item, CancellationToken ct)
    {
        var plan = Plan(epoch);
        var w = Array.BinarySearch(plan.WindowStart, item);
        if (w < 0) w = ~w - 1;
        if (_current is null || _current.Epoch != epoch || _current.Index != w)
        {
            var pre = _prefetch is not null ? await _prefetch : null; // never two reads on one file at once
            _prefetch = null;
            _current = pre is not null && pre.Epoch == epoch && pre.Index == w ? pre : await LoadWindowAsync(epoch, w, ct);
            var (ne, nw) = w + 1 < plan.WindowStart.Length ? (epoch, w + 1) : (epoch + 1, 0);
            _prefetch = Task.Run(() => LoadWindowAsync(ne, nw, CancellationToken.None));
        }
        return (_current, (int)(item - plan.WindowStart[w]));
    }

    (long Epoch, int[] Order, long[] WindowStart) Plan(long epoch)
    {
        if (_plan is { } p && p.Epoch == epoch) return p;
        var order = SeededRandom.Permutation(_blocks.Count, _o.Seed, epoch, 0);
        var starts = new List<long>();
        long n = 0;
        for (var i = 0; i < order.Length; i += _o.WindowRowGroups)
        {
            starts.Add(n);
            for (var j = i; j < Math.Min(order.Length, i + _o.WindowRowGroups); j++) n += _blocks[order[j]].ImageIds.Length;
        }
        _plan = (epoch, order, starts.ToArray());
        return _plan.Value;
    }

    async Task<Window> LoadWindowAsync(long epoch, int w, CancellationToken ct)
    {
        var order = SeededRandom.Permutation(_blocks.Count, _o.Seed, epoch, 0);
        var blocks = order.Skip(w * _o.WindowRowGroups).Take(_o.WindowRowGroups).Select(i => _blocks[i]).ToList();
        var ids = new List<long>(); var pixels = new List<byte[]>();
        foreach (var b in blocks)
        {
            var g = await _images[b.Shard].ReadRowGroupAsync(b.RowGroup, payloads: true, ct);
            var usable = b.ImageIds.ToHashSet();
            for (var r = 0; r < g.Count; r++)
                if (usable.Contains(g.Int64Keys![r])) { ids.Add(g.Int64Keys[r]); pixels.Add(g.Payloads![r]); }
        }
        var perm = SeededRandom.Permutation(ids.Count, _o.Seed, epoch, 1, w);
        var wIds = perm.Select(i => ids[i]).ToArray();
        var wImages = perm.Select(i => pixels[i]).ToArray();
        // One caption per image, drawn afresh each epoch; then read only the caption row groups that hold them.
        var chosen = wIds.Select(id =>
        {
            var list = _captionsOf[id];
            return list[SeededRandom.Index(list.Count, _o.Seed, epoch, 2, id)];
        }).ToArray();
        var contexts = new byte[chosen.Length][];
        foreach (var group in Enumerable.Range(0, chosen.Length).GroupBy(i => (chosen[i].Shard, chosen[i].RowGroup)))
        {
            var g = await _captions[group.Key.Shard].ReadRowGroupAsync(group.Key.RowGroup, payloads: true, ct);
            foreach (var i in group)
            {
                if (g.Int64Keys![chosen[i].Row] != chosen[i].CaptionId)
                    throw new InvalidOperationException($"{_captions[group.Key.Shard].Path} changed while reading (row group {group.Key.RowGroup})");
                contexts[i] = g.Payloads![chosen[i].Row];
            }
        }
        return new Window(epoch, w, wIds, wImages, chosen.Select(c => c.CaptionId).ToArray(), contexts);
    }

    /// <summary>An endless stream of batches from <see cref="Position"/> on.</summary>
    public async IAsyncEnumerable<TrainingBatch> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true) yield return await NextAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_prefetch is not null) try { await _prefetch; } catch (Exception) { /* a failed prefetch is irrelevant once closed */ }
        foreach (var r in _images.Concat(_captions)) await r.DisposeAsync();
    }
}

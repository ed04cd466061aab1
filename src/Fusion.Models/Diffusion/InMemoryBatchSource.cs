using System.Text.Json;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// A batch source over tensors held in memory, for tests and tiny runs. Items are visited in a seeded permutation per
/// epoch (batches run on across epoch boundaries, so any batch size works with any item count) and each visit picks
/// one of the item's captions at random — a pure function of (seed, epoch, position), so the position is just
/// (epoch, cursor).
/// </summary>
public sealed class InMemoryBatchSource : IBatchSource
{
    private readonly Tensor _data;
    private readonly IReadOnlyList<Tensor> _captions;
    private readonly long _seed;
    private int[] _order;
    private long _epoch;
    private int _cursor;

    /// <param name="data">[N, …]: moments or samples per <paramref name="kind"/>.</param>
    /// <param name="captions">Per item, its caption contexts [K_i, L, D] (K_i ≥ 1), all with the same L and D.</param>
    public InMemoryBatchSource(Tensor data, IReadOnlyList<Tensor> captions, BatchKind kind, long seed)
    {
        if (data.dim() < 2) throw new ArgumentException($"data must be [N, …], got shape [{string.Join(", ", data.shape)}]");
        if (captions.Count != data.shape[0])
            throw new ArgumentException($"{captions.Count} caption sets for {data.shape[0]} items");
        for (var i = 0; i < captions.Count; i++)
            if (captions[i].dim() != 3 || captions[i].shape[0] < 1 || !captions[i].shape.Skip(1).SequenceEqual(captions[0].shape.Skip(1)))
                throw new ArgumentException($"captions of item {i} must be [K ≥ 1, L, D] like item 0's [K, {captions[0].shape[1]}, {captions[0].shape[2]}], got [{string.Join(", ", captions[i].shape)}]");
        _data = data;
        _captions = captions;
        Kind = kind;
        _seed = seed;
        _order = Permutation(0);
    }

    /// <summary>Convenience: every item with the same number of captions, <paramref name="captions"/> [N, K, L, D].</summary>
    public InMemoryBatchSource(Tensor data, Tensor captions, BatchKind kind, long seed)
        : this(data, Enumerable.Range(0, (int)captions.shape[0]).Select(i => captions[i]).ToArray(), kind, seed) { }

    public BatchKind Kind { get; }
    public int Count => (int)_data.shape[0];

    public TrainBatch Next(int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be ≥ 1");
        var items = new long[batchSize];
        var contexts = new Tensor[batchSize];
        for (var b = 0; b < batchSize; b++)
        {
            if (_cursor == _order.Length) { _epoch++; _cursor = 0; _order = Permutation(_epoch); }
            var item = _order[_cursor];
            var caps = _captions[item];
            var k = (long)(Mix(_seed, _epoch, _cursor, 1) % (ulong)caps.shape[0]);
            items[b] = item;
            contexts[b] = caps[k];
            _cursor++;
        }
        using var index = tensor(items);
        return new TrainBatch(_data.index_select(0, index), stack(contexts));
    }

    public string GetPosition() => JsonSerializer.Serialize(new Position(_epoch, _cursor));

    public void SetPosition(string position)
    {
        var p = JsonSerializer.Deserialize<Position>(position)
                ?? throw new FormatException($"not an in-memory batch-source position: '{position}'");
        if (p.Epoch < 0 || p.Cursor < 0 || p.Cursor > Count)
            throw new FormatException($"position {position} is out of range for {Count} items");
        (_epoch, _cursor) = (p.Epoch, p.Cursor);
        _order = Permutation(_epoch);
    }

    private sealed record Position(long Epoch, int Cursor);

    private int[] Permutation(long epoch)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = (int)(Mix(_seed, epoch, i, 0) % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    // SplitMix64 finaliser over the combined key: a stateless, platform-independent random number per (seed, epoch, i, stream).
    private static ulong Mix(long seed, long epoch, long i, long stream)
    {
        var z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)epoch * 0xBF58476D1CE4E5B9UL ^ (ulong)i * 0x94D049BB133111EBUL ^ (ulong)stream * 0xD6E8FEB86659FD93UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Fusion.Models.Diffusion;

/// <summary>
/// A model's parameters moved into one contiguous buffer, each parameter becoming a view of its slice (and, once
/// <see cref="AdoptGradients"/> ran, each gradient a view of a second buffer that backward accumulates into). Whole-model
/// updates — AdamW, the EMA, the copy into a bf16 compute model, the gradient norm — are then a handful of large
/// kernels instead of a loop of small ones per tensor (≈ 2,800 launches per step on a GPU for U-ViT-S/2's 215
/// tensors). Elementwise updates compute the same bits either way. The parameters stay the module's own objects, so
/// forward, state dicts and checkpoints see no difference; moving the module to another device or dtype afterwards
/// would detach them from the buffer, so flatten after placing the model.
/// </summary>
public sealed class FlatParameters : IDisposable
{
    public sealed record Entry(string Name, Tensor Parameter, long Offset, long Count, long[] Shape);

    private const long AlignElements = 32;
    private readonly Entry[] _entries;

    /// <summary>All parameters, one after another in <see cref="Entries"/> order, each from a 64-byte boundary ([total], contiguous).</summary>
    public Tensor Values { get; }
    /// <summary>The gradients in the same layout, after <see cref="AdoptGradients"/>; null before.</summary>
    public Tensor? Gradients { get; private set; }
    public IReadOnlyList<Entry> Entries => _entries;
    public long Count => Values.shape[0];

    private FlatParameters(Entry[] entries, Tensor values) => (_entries, Values) = (entries, values);

    /// <summary>Flattens <paramref name="module"/>'s parameters (named_parameters order) in place.</summary>
    public static FlatParameters Of(nn.Module module) =>
        Of(module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList());

    /// <summary>Flattens the given tensors in place: afterwards each is a view of <see cref="Values"/> with its old values.</summary>
    public static FlatParameters Of(IReadOnlyList<(string Name, Tensor Parameter)> parameters)
    {
        if (parameters.Count == 0) throw new ArgumentException("nothing to flatten: no parameters");
        var (dtype, device) = (parameters[0].Parameter.dtype, parameters[0].Parameter.device);
        foreach (var (name, p) in parameters)
            if (p.dtype != dtype || p.device.ToString() != device.ToString())
                throw new ArgumentException($"parameter '{name}' is {p.dtype} on {p.device}, the first is {dtype} on {device}: one buffer needs one dtype and device");
        // Each slice starts on a 64-byte boundary, as a tensor of its own would: kernels are slower on unaligned weights.
        // The boundary is counted in elements (32: 64 bytes of bf16, 128 of float32), so a bf16 copy of a float32 model
        // gets the same layout. The gaps are zeros and stay zero (zero gradient, zero moments, zero decay of zero).
        var entries = new Entry[parameters.Count];
        long offset = 0;
        for (var i = 0; i < parameters.Count; i++)
        {
            var (name, p) = parameters[i];
            entries[i] = new Entry(name, p, offset, p.numel(), p.shape);
            offset += (p.numel() + AlignElements - 1) / AlignElements * AlignElements;
        }
        var values = zeros([offset], dtype, device).DetachFromDisposeScope();
        using (no_grad())
            foreach (var e in entries)
            {
                using var slice = values.narrow(0, e.Offset, e.Count).view(e.Shape);
                slice.copy_(e.Parameter);
                e.Parameter.set_(slice);
            }
        return new FlatParameters(entries, values);
    }

    /// <summary>The view of parameter <paramref name="i"/>'s slice of a flat tensor laid out like <see cref="Values"/>.</summary>
    public Tensor Slice(Tensor flat, int i) => flat.narrow(0, _entries[i].Offset, _entries[i].Count).view(_entries[i].Shape);

    /// <summary>
    /// (offset, length) spans covering the buffer for elementwise updates that take several passes (AdamW's seven): the
    /// whole buffer at once on a GPU, where a kernel launch is the cost; 256K-element spans on a CPU, so each span's
    /// parameters, gradient and moments stay in cache across the passes and temporaries stay small (one pass per op over
    /// U-ViT-S/2's 180 MB streams from memory: AdamW took 14× as long as the loop over its 215 tensors).
    /// </summary>
    public IEnumerable<(long Offset, long Length)> Chunks()
    {
        var span = Values.device.type == DeviceType.CPU ? CpuChunkElements : Count;
        for (long o = 0; o < Count; o += span) yield return (o, Math.Min(span, Count - o));
    }

    private const long CpuChunkElements = 1L << 18;

    /// <summary>A new flat tensor laid out like <see cref="Values"/> holding <paramref name="tensors"/> (one per entry, in order; zeros in the gaps).</summary>
    public Tensor Pack(IReadOnlyList<Tensor> tensors)
    {
        if (tensors.Count != _entries.Length) throw new ArgumentException($"{tensors.Count} tensors for {_entries.Length} parameters");
        var flat = zeros_like(Values);
        using var _ = no_grad();
        for (var i = 0; i < _entries.Length; i++)
        {
            if (!tensors[i].shape.SequenceEqual(_entries[i].Shape))
                throw new ArgumentException($"tensor {i} is [{string.Join(", ", tensors[i].shape)}], parameter '{_entries[i].Name}' [{string.Join(", ", _entries[i].Shape)}]");
            using var slice = Slice(flat, i);
            slice.copy_(tensors[i]);
        }
        return flat;
    }

    /// <summary>Name → view of that parameter's slice of <paramref name="flat"/> (sharing its storage).</summary>
    public Dictionary<string, Tensor> Named(Tensor flat)
    {
        if (flat.shape.Length != 1 || flat.shape[0] != Count) throw new ArgumentException($"a flat tensor of [{Count}] expected, got [{string.Join(", ", flat.shape)}]");
        return _entries.Select((e, i) => (e.Name, Slice(flat, i))).ToDictionary(x => x.Name, x => x.Item2);
    }

    /// <summary>
    /// Moves the gradients a first backward pass left on the parameters into <see cref="Gradients"/> and makes each
    /// parameter's .grad a view of it, so later backward passes accumulate there (zero them with <see cref="ZeroGradients"/>,
    /// not the module's zero_grad, which would drop the views). Throws naming a parameter without a gradient.
    /// </summary>
    public void AdoptGradients()
    {
        if (Gradients is not null) return;
        var missing = _entries.FirstOrDefault(e => e.Parameter.grad is null);
        if (missing is not null) throw new InvalidOperationException($"parameter '{missing.Name}' received no gradient (unused by the forward pass?)");
        var grads = zeros([Count], Values.dtype, Values.device).DetachFromDisposeScope();
        using (no_grad())
            for (var i = 0; i < _entries.Length; i++)
            {
                var slice = Slice(grads, i);
                slice.copy_(_entries[i].Parameter.grad!);
                _entries[i].Parameter.grad = slice;
            }
        Gradients = grads;
    }

    /// <summary>Zeroes the gradients before a backward pass: the buffer once adopted, before that whatever gradients the
    /// parameters hold (a module's zero_grad would drop the buffer's views).</summary>
    public void ZeroGradients()
    {
        using var _ = no_grad();
        if (Gradients is not null) Gradients.zero_();
        else foreach (var e in _entries) e.Parameter.grad?.zero_();
    }

    /// <summary>Throws unless <paramref name="other"/> has the same names, shapes and offsets in the same order.</summary>
    public void CheckSameLayout(FlatParameters other, string what)
    {
        for (var i = 0; i < Math.Max(_entries.Length, other._entries.Length); i++)
        {
            var (a, b) = (i < _entries.Length ? _entries[i] : null, i < other._entries.Length ? other._entries[i] : null);
            if (a is null || b is null || a.Name != b.Name || !a.Shape.SequenceEqual(b.Shape) || a.Offset != b.Offset)
                throw new ArgumentException($"{what}: parameter {i} is {Describe(a)} here and {Describe(b)} there");
        }
        static string Describe(Entry? e) => e is null ? "missing" : $"'{e.Name}' [{string.Join(", ", e.Shape)}] at {e.Offset}";
    }

    public void Dispose()
    {
        Values.Dispose();
        Gradients?.Dispose();
    }
}

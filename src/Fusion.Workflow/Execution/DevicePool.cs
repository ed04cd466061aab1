using System.Globalization;
using System.Threading.Channels;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;

namespace Fusion.Workflow.Execution;

/// <summary>
/// One place a torch node can run. <see cref="Name"/> is what the ledger records ("cuda:3", "cpu:1");
/// <see cref="Torch"/> is the device the stage hands to torch ("cuda:3", "cpu": libtorch has one CPU device, so CPU
/// slots differ only in name).
/// </summary>
public sealed record DeviceSlot(string Name, string Torch);

/// <summary>
/// The devices concurrent torch nodes are placed on: each running torch node leases one slot for its whole run, so
/// with one slot per GPU no two nodes share a GPU, and nodes beyond the free slots wait. Slots are handed out in
/// first-come order. Nodes that do not use torch take no slot. Placement never enters fingerprints: every slot is of
/// the run's device type, which is the fingerprint fact. Each slot runs its nodes on a <see cref="ComputeThread"/> of
/// its own (started when first leased), so a slot's torch work always comes from one thread.
/// </summary>
public sealed class DevicePool
{
    private readonly Channel<int> free = Channel.CreateUnbounded<int>();
    private readonly Lazy<ComputeThread>[] threads;

    public IReadOnlyList<DeviceSlot> Slots { get; }

    public DevicePool(IReadOnlyList<DeviceSlot> slots)
    {
        if (slots.Count == 0) throw new ArgumentException("a device pool needs at least one device", nameof(slots));
        Slots = slots;
        // Indices, not slots: a GPU named twice is two equal slots, and each needs its own thread.
        threads = [.. slots.Select((slot, i) => new Lazy<ComputeThread>(() => new ComputeThread($"fusion {slot.Name} #{i}")))];
        for (var i = 0; i < slots.Count; i++) free.Writer.TryWrite(i);
    }

    /// <summary>How many slots are free now (a hint: it can change at once).</summary>
    public int FreeCount => free.Reader.Count;

    /// <summary>Waits for a free slot; disposing the lease returns it.</summary>
    public async Task<DeviceLease> LeaseAsync(CancellationToken ct) => new(this, await free.Reader.ReadAsync(ct));

    internal DeviceSlot SlotAt(int index) => Slots[index];

    internal ComputeThread ThreadAt(int index) => threads[index].Value;

    internal void Return(int index) => free.Writer.TryWrite(index);

    /// <summary>
    /// The pool of <c>--devices</c>: a comma-separated list of <c>cpu</c> and <c>cuda:N</c>, every entry of the run's
    /// device type <paramref name="deviceType"/> (cpu or cuda) and, for CUDA, below <paramref name="cudaDevices"/>.
    /// The k-th <c>cpu</c> entry is slot <c>cpu:k</c>; a GPU named twice takes two nodes at once.
    /// </summary>
    public static DevicePool Parse(string spec, string deviceType, int cudaDevices)
    {
        var entries = spec.Split(',', StringSplitOptions.TrimEntries);
        if (entries.Any(e => e.Length == 0)) throw Bad($"'{spec}' has an empty entry (expected e.g. cuda:0,cuda:1 or cpu,cpu)");
        var slots = new List<DeviceSlot>();
        foreach (var entry in entries)
        {
            var type = entry == "cpu" ? "cpu"
                : entry.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(entry.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _) ? "cuda"
                : throw Bad($"'{entry}' is not a device (expected cpu or cuda:N, e.g. cuda:0,cuda:1)");
            if (type != deviceType)
                throw Bad($"'{entry}' is not a {deviceType} device, and this run computes on {deviceType} (--device); every device of a run must be of its type, which its fingerprints record");
            if (type == "cpu")
            {
                slots.Add(new DeviceSlot($"cpu:{slots.Count}", "cpu"));
                continue;
            }
            var index = int.Parse(entry.AsSpan(5), CultureInfo.InvariantCulture);
            if (index >= cudaDevices) throw Bad($"'{entry}' does not exist: this machine has {cudaDevices} visible CUDA device(s) (cuda:0 … cuda:{cudaDevices - 1})");
            slots.Add(new DeviceSlot(entry, entry));
        }
        return new DevicePool(slots);
    }

    /// <summary>
    /// Without <c>--devices</c>: every visible GPU once on CUDA; on the CPU one slot per job, so <c>--jobs K</c> runs
    /// K torch nodes at once as it always did (they share the cores).
    /// </summary>
    public static DevicePool Default(string deviceType, int cudaDevices, int jobs) =>
        deviceType == "cuda"
            ? cudaDevices > 0 ? new DevicePool([.. Enumerable.Range(0, cudaDevices).Select(i => new DeviceSlot($"cuda:{i}", $"cuda:{i}"))])
                : throw new PipelineException("the run computes on cuda but no CUDA device is visible", SourceLocation.CommandLine, "--device")
            : new DevicePool([.. Enumerable.Range(0, Math.Max(1, jobs)).Select(i => new DeviceSlot($"cpu:{i}", "cpu"))]);

    /// <summary>Whether a node of <paramref name="kind"/> runs torch and so needs a device: it depends on the device fact.</summary>
    public static bool NeedsDevice(IStageKind kind) => kind.EnvironmentDependencies is not { } deps || deps.Contains(EnvironmentFacts.DeviceKey);

    private static PipelineException Bad(string message) => new(message, SourceLocation.CommandLine, "--devices");
}

/// <summary>A slot held by one running node; disposing it frees the slot for the next waiting node.</summary>
public sealed class DeviceLease(DevicePool pool, int index) : IDisposable
{
    private int returned;

    public DeviceSlot Slot => pool.SlotAt(index);

    /// <summary>The thread the node runs on while it holds the slot.</summary>
    public ComputeThread Thread => pool.ThreadAt(index);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref returned, 1) == 0) pool.Return(index);
    }
}

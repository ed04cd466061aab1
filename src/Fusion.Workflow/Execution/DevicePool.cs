using System.Globalization;
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
/// with one slot per GPU no two nodes share a GPU, and nodes beyond the free slots wait. Placement never enters
/// fingerprints: every slot is of the run's device type, which is the fingerprint fact. Each slot runs its nodes on a
/// thread of its own from the compute runtime (<see cref="IComputeRuntime"/>, started when first used), so a slot's
/// torch work always comes from one thread.
/// A CPU pool may also count cores (<see cref="Cores"/>): a node then needs its intra-op threads' worth of free cores
/// besides a slot (all of them unless it declares fewer, see <see cref="NodeThreads"/>), so two one-thread nodes share
/// two cores side by side, and a node that uses every core — a timing node among them — runs alone. Waiting nodes are
/// served first-fit in the order they asked: a small node may pass a big one that does not fit yet.
/// </summary>
public sealed class DevicePool
{
    // Indices, not slots: a GPU named twice is two equal slots, and each needs its own thread.
    private readonly IComputeThread?[] threads;
    private readonly bool[] busy;
    private readonly LinkedList<Waiter> waiting = new();
    private int freeCores;

    public IReadOnlyList<DeviceSlot> Slots { get; }

    /// <summary>Cores shared by this pool's nodes (null: not counted, one node per slot is the only limit).</summary>
    public int? Cores { get; }

    /// <param name="slots">Where nodes run.</param>
    /// <param name="cores">Cores the CPU slots share (null: not counted).</param>
    public DevicePool(IReadOnlyList<DeviceSlot> slots, int? cores = null)
    {
        if (slots.Count == 0) throw new ArgumentException("a device pool needs at least one device", nameof(slots));
        if (cores < 1) throw new ArgumentOutOfRangeException(nameof(cores), cores, "a pool that counts cores needs at least one");
        Slots = slots;
        Cores = cores;
        freeCores = cores ?? 0;
        busy = new bool[slots.Count];
        threads = new IComputeThread?[slots.Count];
    }

    /// <summary>How many cores a node that asks for <paramref name="threads"/> takes here (0 when cores are not counted).</summary>
    public int CoresFor(int? threads) => Cores is { } c ? Math.Min(threads ?? c, c) : 0;

    /// <summary>Why a node asking for <paramref name="cores"/> cores would wait now (null: it would not).</summary>
    public string? WhyWait(int cores)
    {
        lock (waiting)
            return !busy.Contains(false) ? $"waiting for a free device (all {Slots.Count} busy)"
                : cores > freeCores ? $"waiting for {cores} free core(s) of {Cores} ({freeCores} free)" : null;
    }

    /// <summary>Waits for a free slot and <paramref name="cores"/> free cores (see <see cref="CoresFor"/>); disposing the
    /// lease returns both.</summary>
    public Task<DeviceLease> LeaseAsync(int cores, CancellationToken ct)
    {
        var waiter = new Waiter(cores);
        lock (waiting)
        {
            if (TryGrant(waiter)) return waiter.Task;
            var node = waiting.AddLast(waiter);
            waiter.Cancellation = ct.Register(() =>
            {
                lock (waiting)
                    if (node.List is not null) waiting.Remove(node);
                waiter.TrySetCanceled(ct);
            });
        }
        return waiter.Task;
    }

    private bool TryGrant(Waiter waiter)
    {
        var slot = Array.IndexOf(busy, false);
        if (slot < 0 || waiter.Cores > freeCores) return false;
        busy[slot] = true;
        freeCores -= waiter.Cores;
        if (waiter.TrySetResult(new DeviceLease(this, slot, waiter.Cores))) return true;
        // Cancelled meanwhile: it takes nothing, and still leaves the queue.
        busy[slot] = false;
        freeCores += waiter.Cores;
        return true;
    }

    internal DeviceSlot SlotAt(int index) => Slots[index];

    internal IComputeThread ThreadAt(int index, IComputeRuntime compute)
    {
        lock (threads) return threads[index] ??= compute.StartThread($"fusion {Slots[index].Name} #{index}");
    }

    internal void Return(int index, int cores)
    {
        var granted = new List<Waiter>();
        lock (waiting)
        {
            busy[index] = false;
            freeCores += cores;
            for (var node = waiting.First; node is not null;)
            {
                var next = node.Next;
                if (TryGrant(node.Value)) { waiting.Remove(node); granted.Add(node.Value); }
                node = next;
            }
        }
        foreach (var g in granted) g.Cancellation.Dispose();
    }

    private sealed class Waiter(int cores) : TaskCompletionSource<DeviceLease>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public int Cores { get; } = cores;
        public CancellationTokenRegistration Cancellation { get; set; }
    }

    /// <summary>
    /// The pool of <c>--devices</c>: a comma-separated list of <c>cpu</c> and <c>cuda:N</c>, every entry of the run's
    /// device type <paramref name="deviceType"/> (cpu or cuda) and, for CUDA, below <paramref name="cudaDevices"/>.
    /// The k-th <c>cpu</c> entry is slot <c>cpu:k</c>; a GPU named twice takes two nodes at once.
    /// </summary>
    public static DevicePool Parse(string spec, string deviceType, int cudaDevices, int? cores = null)
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
        return new DevicePool(slots, deviceType == "cpu" ? cores : null);
    }

    /// <summary>
    /// Without <c>--devices</c>: every visible GPU once on CUDA; on the CPU one slot per job, sharing
    /// <paramref name="cores"/> cores when given (the CLI gives the intra-op thread count, so nodes that use every core
    /// run one at a time however many jobs there are).
    /// </summary>
    public static DevicePool Default(string deviceType, int cudaDevices, int jobs, int? cores = null) =>
        deviceType == "cuda"
            ? cudaDevices > 0 ? new DevicePool([.. Enumerable.Range(0, cudaDevices).Select(i => new DeviceSlot($"cuda:{i}", $"cuda:{i}"))])
                : throw new PipelineException("the run computes on cuda but no CUDA device is visible", SourceLocation.CommandLine, "--device")
            : new DevicePool([.. Enumerable.Range(0, Math.Max(1, jobs)).Select(i => new DeviceSlot($"cpu:{i}", "cpu"))], cores);

    /// <summary>Whether a node of <paramref name="kind"/> runs torch and so needs a device: it depends on the device fact.</summary>
    public static bool NeedsDevice(IStageKind kind) => kind.EnvironmentDependencies is not { } deps || deps.Contains(EnvironmentFacts.DeviceKey);

    private static PipelineException Bad(string message) => new(message, SourceLocation.CommandLine, "--devices");
}

/// <summary>A slot (and its cores) held by one running node; disposing it frees them for the next waiting node.</summary>
public sealed class DeviceLease(DevicePool pool, int index, int cores) : IDisposable
{
    private int returned;

    public DeviceSlot Slot => pool.SlotAt(index);

    /// <summary>Runs a node's work on the slot's own thread of <paramref name="compute"/> (here, without a runtime).</summary>
    public Task RunAsync(IComputeRuntime? compute, Func<Task> work) => compute is null ? work() : pool.ThreadAt(index, compute).RunAsync(work);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref returned, 1) == 0) pool.Return(index, cores);
    }
}

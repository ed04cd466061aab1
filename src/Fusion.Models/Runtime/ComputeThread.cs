using System.Collections.Concurrent;

namespace Fusion.Models;

/// <summary>
/// One long-lived thread that runs a device slot's nodes, continuations included (a single-threaded
/// <see cref="SynchronizationContext"/>), so all of a slot's torch work starts its parallel regions from one thread.
/// libtorch parallelises CPU kernels with OpenMP, and libgomp keeps a team of worker threads for every thread that
/// ever started a parallel region; once it manages more threads than there are cores it stops spinning between
/// regions and sleeps on futexes instead. A node that hopped across thread-pool threads at every await left such teams
/// behind, and a tiny model's ~1,000 kernels per step each paid a wake-up: profiled on 2 cores, the engine's training
/// threads slept in libgomp's futex wait where a one-thread benchmark spun; a run that trains the shapes CLIP and then
/// a U-ViT took 28.5 / 25.7 s for the U-ViT before and 22.5 / 22.4 s after (two interleaved rounds; a U-ViT
/// trained alone showed no difference over five rounds, docs/benchmarks.md).
/// Code that blocks on a task here must not need this thread to finish it (run it with Task.Run, as
/// the training loader does).
/// </summary>
public sealed class ComputeThread : IDisposable
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> queue = new();
    private readonly Thread thread;
    private readonly Context context;

    public ComputeThread(string name)
    {
        context = new Context(this);
        thread = new Thread(Pump) { IsBackground = true, Name = name };
        thread.Start();
    }

    public string Name => thread.Name!;

    /// <summary>Whether the calling code runs on this thread.</summary>
    public bool IsCurrent => Thread.CurrentThread == thread;

    /// <summary>Runs <paramref name="work"/> on this thread; its awaits resume here too (unless it opts out with ConfigureAwait(false)).</summary>
    public Task RunAsync(Func<Task> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(_ =>
        {
            Task task;
            try { task = work(); }
            catch (Exception e) { done.SetException(e); return; }
            task.ContinueWith(t =>
            {
                // The stage's own exception object, cancellations included, so the caller sees what it would have
                // seen awaiting the stage directly (the message of a timeout, the token of a cancellation).
                try { t.GetAwaiter().GetResult(); done.SetResult(); }
                catch (Exception e) { done.SetException(e); }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }, null);
        return done.Task;
    }

    private void Post(SendOrPostCallback callback, object? state)
    {
        try { queue.Add((callback, state)); }
        catch (InvalidOperationException) { throw new ObjectDisposedException(Name, "the compute thread has stopped"); }
    }

    private void Pump()
    {
        SynchronizationContext.SetSynchronizationContext(context);
        foreach (var (callback, state) in queue.GetConsumingEnumerable()) callback(state);
    }

    /// <summary>Stops the thread once the queued work has run.</summary>
    public void Dispose() => queue.CompleteAdding();

    private sealed class Context(ComputeThread owner) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => owner.Post(d, state);

        public override void Send(SendOrPostCallback d, object? state)
        {
            if (owner.IsCurrent) { d(state); return; }
            using var done = new ManualResetEventSlim();
            Exception? error = null;
            owner.Post(_ => { try { d(state); } catch (Exception e) { error = e; } finally { done.Set(); } }, null);
            done.Wait();
            if (error is not null) throw new AggregateException(error);
        }

        public override SynchronizationContext CreateCopy() => this;
    }
}

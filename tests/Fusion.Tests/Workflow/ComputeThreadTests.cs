using Fusion.Models;

namespace Fusion.Tests.Workflow;

/// <summary>A <see cref="ComputeThread"/> runs its work and every continuation of it on its one thread.</summary>
public sealed class ComputeThreadTests
{
    [Fact]
    public async Task Work_and_its_awaits_run_on_the_one_thread_and_results_and_errors_come_back()
    {
        using var compute = new ComputeThread("compute test");
        var seen = new List<int>();
        await compute.RunAsync(async () =>
        {
            seen.Add(Environment.CurrentManagedThreadId);
            await Task.Delay(5);   // completes on a timer thread; the continuation must come back
            seen.Add(Environment.CurrentManagedThreadId);
            await Task.Run(() => Thread.Sleep(5));
            seen.Add(Environment.CurrentManagedThreadId);
            await Task.Yield();
            seen.Add(Environment.CurrentManagedThreadId);
            Assert.True(compute.IsCurrent);
        });
        Assert.Single(seen.Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, seen[0]);
        Assert.False(compute.IsCurrent);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => compute.RunAsync(async () =>
        {
            await Task.Delay(1);
            throw new InvalidOperationException("stage failed");
        }));
        Assert.Equal("stage failed", failure.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => compute.RunAsync(() => throw new InvalidOperationException("before any await")));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var stopped = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => compute.RunAsync(() => Task.Delay(1000, cancelled.Token)));
        Assert.Equal(cancelled.Token, stopped.CancellationToken);
        // A cancellation that is not the run's (e.g. a timeout) keeps its message.
        var timeout = await Assert.ThrowsAsync<TaskCanceledException>(() => compute.RunAsync(async () =>
        {
            await Task.Yield();
            throw new TaskCanceledException("download timed out after 100 s");
        }));
        Assert.Equal("download timed out after 100 s", timeout.Message);

        // The thread outlives one piece of work: the next runs on it too.
        var next = 0;
        await compute.RunAsync(() => { next = Environment.CurrentManagedThreadId; return Task.CompletedTask; });
        Assert.Equal(seen[0], next);
    }
}

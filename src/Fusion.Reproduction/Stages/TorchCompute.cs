using Fusion.Models;
using Fusion.Workflow.Execution;

[assembly: ComputeRuntime(typeof(Fusion.Reproduction.Stages.TorchCompute))]

namespace Fusion.Reproduction.Stages;

/// <summary>The engine's placement of these stages' torch work: libtorch's threads on <see cref="ComputeThread"/>s.</summary>
public sealed class TorchCompute : IComputeRuntime
{
    public IComputeThread StartThread(string name) => new Thread(new ComputeThread(name));

    public void SetThreads(int threads) => TorchThreads.Set(threads);

    private sealed class Thread(ComputeThread thread) : IComputeThread
    {
        public Task RunAsync(Func<Task> work) => thread.RunAsync(work);
        public void Dispose() => thread.Dispose();
    }
}

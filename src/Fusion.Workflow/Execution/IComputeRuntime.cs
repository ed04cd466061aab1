namespace Fusion.Workflow.Execution;

/// <summary>
/// How a torch node's work is placed on this machine, as the engine needs it: a long-lived thread per device slot
/// (a node's awaits resume on it, so its parallel regions start from one thread) and the intra-op thread count set on
/// that thread. The compute library provides it: the stage registry carries the one its stage kinds declare
/// (<see cref="ComputeRuntimeAttribute"/>). Without one, nodes run where they are started and keep the current count.
/// </summary>
public interface IComputeRuntime
{
    /// <summary>Starts a thread that runs the work given to it, continuations included, until it is disposed.</summary>
    IComputeThread StartThread(string name);

    /// <summary>Sets the calling thread's intra-op thread count.</summary>
    void SetThreads(int threads);
}

/// <summary>A thread of an <see cref="IComputeRuntime"/>; disposing it stops it once its queued work has run.</summary>
public interface IComputeThread : IDisposable
{
    /// <summary>Runs <paramref name="work"/> on this thread; its awaits resume here too.</summary>
    Task RunAsync(Func<Task> work);
}

/// <summary>Names the <see cref="IComputeRuntime"/> (a type with a parameterless constructor) an assembly's stage kinds compute on.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ComputeRuntimeAttribute(Type runtime) : Attribute
{
    public Type Runtime => runtime;
}

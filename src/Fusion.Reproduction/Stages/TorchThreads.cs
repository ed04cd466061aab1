using System.Runtime.CompilerServices;
using Fusion.Workflow.Stages;

namespace Fusion.Reproduction.Stages;

/// <summary>Lets the engine set a node's CPU threads in libtorch (<see cref="NodeThreads"/>) wherever these stages run.</summary>
internal static class TorchThreads
{
    // Runs when this assembly is first used, i.e. before any of its stages can run.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NodeThreads.Apply ??= threads => TorchSharp.torch.set_num_threads(threads);
}

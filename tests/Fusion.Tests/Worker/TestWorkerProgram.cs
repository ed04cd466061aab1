using Fusion.Worker.Distributed;
using Fusion.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fusion.Tests.Worker;

/// <summary>
/// Entry point of the test assembly, so that tests can start real worker processes:
/// <c>dotnet Fusion.Tests.dll worker COMMIT-ROOT [--Worker:…=…]</c> runs the same <see cref="WorkerHost"/> as
/// <c>fusion worker --distributed</c>, with the file-committing test executor in place of the engine's.
/// </summary>
public static class TestWorkerProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length < 2 || args[0] != "worker")
        {
            Console.Error.WriteLine("Fusion.Tests is a test assembly (run it with dotnet test); `worker COMMIT-ROOT [config…]` starts a test worker");
            return 2;
        }
        var builder = WorkerHost.CreateBuilder(args[2..], distributed: true);
        builder.Services.AddSingleton<INodeExecutor>(new FileCommitExecutor(args[1]));
        await builder.Build().RunAsync();
        return 0;
    }
}

using Fusion.Artifacts.Store.Local;
using Fusion.Worker.Distributed;
using Fusion.Worker.Engine;
using Fusion.Workflow.Stages;
using Fusion.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Tests.Worker;

/// <summary>
/// Entry point of the test assembly, so that tests can start real worker processes:
/// <c>dotnet Fusion.Tests.dll worker COMMIT-ROOT [--Worker:…=…]</c> runs the same <see cref="WorkerHost"/> as
/// <c>fusion worker --distributed</c>, with the file-committing test executor (<c>worker</c>) or the engine's node
/// executor over a local store with the <see cref="EchoStage"/> kind (<c>engine-worker STORE-ROOT</c>).
/// </summary>
public static class TestWorkerProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length < 2 || args[0] is not ("worker" or "engine-worker"))
        {
            Console.Error.WriteLine("Fusion.Tests is a test assembly (run it with dotnet test); `worker COMMIT-ROOT [config…]` starts a " +
                                    "test worker, `engine-worker STORE-ROOT [config…]` one that runs engine nodes (echo stages) on a local store");
            return 2;
        }
        var builder = WorkerHost.CreateBuilder(args[2..], distributed: true);
        if (args[0] == "worker")
            builder.Services.AddSingleton<INodeExecutor>(new FileCommitExecutor(args[1]));
        else
            builder.Services.AddSingleton<INodeExecutor>(sp => new EngineNodeExecutor(new LocalArtifactStore(args[1]), EchoStage.Registry(),
                new FixedEnvironmentFacts(EnvironmentFacts.Of(("device", "cpu"))), sp.GetRequiredService<ILoggerFactory>()));
        await builder.Build().RunAsync();
        return 0;
    }
}

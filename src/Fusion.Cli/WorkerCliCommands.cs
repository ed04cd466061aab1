using System.CommandLine;
using Fusion.Worker.Hosting;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;

namespace Fusion.Cli;

/// <summary>
/// `fusion worker` (schedules, regression checks; --distributed: task-hub node worker) and `fusion baseline
/// bless|check|show`, reading the store, stage kinds and device like the engine commands. Register in the root with
/// <c>foreach (var command in WorkerCliCommands.Build()) root.Subcommands.Add(command);</c>.
/// </summary>
public static class WorkerCliCommands
{
    public static IEnumerable<Command> Build()
    {
        var setup = new EngineSetup();
        WorkerEngine Open(ParseResult parse)
        {
            var facts = setup.Facts(parse);
            return new(setup.OpenStore(parse), setup.Registry(parse), facts, Devices);

            // The same rules as `run --devices`, named by the setting that broke them.
            DevicePool Devices(string? spec, int? nodes)
            {
                try { return EngineSetup.Devices(spec, facts.GetFacts(), nodes); }
                catch (PipelineException e) { throw new ArgumentException($"Worker:Distributed:Devices: {e.Reason}", e); }
            }
        }
        void AddOptions(Command command) => setup.AddTo(command, withPipeline: false);
        // The worker's host reads its own section and the logging settings from the command line.
        yield return ConfigurationSettings.Accept(WorkerCommands.Worker(Open, AddOptions), "Worker", "Logging");
        yield return WorkerCommands.Baseline(Open, AddOptions);
    }
}

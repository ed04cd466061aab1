using System.CommandLine;
using Spectre.Console;
using Fusion.Models;

namespace Fusion.Cli;

/// <summary>The `fusion` command line: one subcommand per user task.</summary>
public static class FusionCommand
{
    // Ctrl-C / SIGTERM are handled by the commands themselves (ShutdownSignal): a node may need longer than
    // System.CommandLine's default grace period to save its checkpoint.
    public static Task<int> RunAsync(string[] args)
    {
        // Redirected output (logs, CI, tests) gets wide tables instead of Spectre's 80-column default.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 240);
        return Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    public static RootCommand Build()
    {
        var root = new RootCommand("fusion — reproduce 'An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion Models'");
        var env = new Command("env", "Print the facts of this machine that change results (TorchSharp, libtorch, device, threads).");
        env.SetAction(_ =>
        {
            var table = new Table().AddColumns("fact", "value");
            foreach (var (k, v) in TorchEnvironment.Facts()) table.AddRow(k, Markup.Escape(v));
            AnsiConsole.Write(table);
            return 0;
        });
        root.Subcommands.Add(env);
        root.Subcommands.Add(BenchCommand.Build());
        root.Subcommands.Add(ReportCommand.Build());
        foreach (var command in EngineCommands.Build()) root.Subcommands.Add(command);
        foreach (var command in WorkerCliCommands.Build()) root.Subcommands.Add(command);
        return root;
    }
}

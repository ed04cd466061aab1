using System.CommandLine;
using Spectre.Console;
using Fusion.Models;

namespace Fusion.Cli;

/// <summary>The `fusion` command line: one subcommand per user task.</summary>
public static class FusionCommand
{
    public static Task<int> RunAsync(string[] args) => Build().Parse(args).InvokeAsync();

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
        return root;
    }
}

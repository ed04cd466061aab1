using System.CommandLine;
using System.CommandLine.Parsing;
using Spectre.Console;
using Fusion.Models;

namespace Fusion.Cli;

/// <summary>The `fusion` command line: one subcommand per user task.</summary>
public static class FusionCommand
{
    /// <summary>-v on any command: debug logs, and the stack of an expected failure.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "debug logs, and the stack trace of any error", Recursive = true };

    // Ctrl-C / SIGTERM are handled by the commands themselves (ShutdownSignal): a node may need longer than
    // System.CommandLine's default grace period to save its checkpoint.
    public static async Task<int> RunAsync(string[] args)
    {
        // Redirected output (logs, CI, tests) gets wide tables instead of Spectre's 80-column default.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 240);
        var parse = Build().Parse(args);
        var errors = parse.Errors.Select(e => e.Message).ToList();
        if (errors.Count == 0 && ConfigurationSettings.Reject(parse) is { } unknown) errors.Add(unknown);
        if (errors.Count > 0)
        {
            foreach (var error in errors) Console.Error.WriteLine("error: " + error);
            // Unknown options end up unmatched or, refused there, in a positional argument: look at every token.
            foreach (var token in args.Where(a => a.StartsWith('-')).Distinct())
                if (OptionSuggestion.Nearest(token, parse.CommandResult.Command) is { } near) Console.Error.WriteLine($"  {token}: did you mean {near}?");
            Console.Error.WriteLine($"  see: {CommandPath(parse.CommandResult)} --help");
            return ExitCodes.Usage;
        }
        try { return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }); }
        catch (Exception e) { return FailureReport.Write(e, parse.GetValue(Verbose)); }
    }

    private static string CommandPath(CommandResult r) => r.Parent is CommandResult parent ? $"{CommandPath(parent)} {r.Command.Name}" : r.Command.Name;

    public static RootCommand Build()
    {
        var root = new RootCommand("fusion — reproduce 'An Intermediate Fusion ViT Enables Efficient Text-Image Alignment in Diffusion Models'") { Verbose };
        var env = new Command("env", "Print the facts of this machine that change results (TorchSharp, libtorch, device, threads), and its allocation policy.");
        env.SetAction(_ =>
        {
            var table = new Table().AddColumns("fact", "value");
            foreach (var (k, v) in TorchEnvironment.Facts()) table.AddRow(k, Markup.Escape(v));
            // Speed only, not a fingerprint fact: freed tensor memory kept for the next step (NativeHeap).
            table.AddRow("malloc", Markup.Escape(NativeHeap.Policy));
            AnsiConsole.Write(table);
            return 0;
        });
        root.Subcommands.Add(env);
        root.Subcommands.Add(BenchCommand.Build());
        root.Subcommands.Add(ReportCommand.Build());
        root.Subcommands.Add(CalibrateCommand.Build());
        foreach (var command in EngineCommands.Build()) root.Subcommands.Add(command);
        foreach (var command in WorkerCliCommands.Build()) root.Subcommands.Add(command);
        NumberOptions.ParseIn(root);
        OptionTokens.KeepOutOfArguments(root);
        return root;
    }
}

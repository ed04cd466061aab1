using System.CommandLine;
using System.CommandLine.Parsing;

namespace Fusion.Cli;

/// <summary>
/// Keeps tokens that look like options (<c>--bogus</c>, <c>--Worker:KEY=VALUE</c>) out of a command's optional
/// positional arguments: System.CommandLine would otherwise take an unknown option as the pipeline or the run id
/// (`status --bogus`: "no run '--bogus'"), and a configuration setting given without a pipeline would be lost. Such a
/// token stays unmatched, so it is reported as an unknown option or passed on as a setting.
/// </summary>
public static class OptionTokens
{
    public static void KeepOutOfArguments(Command command)
    {
        foreach (var argument in command.Arguments.OfType<Argument<string?>>()) argument.CustomParser = Value;
        foreach (var sub in command.Subcommands) KeepOutOfArguments(sub);
    }

    private static string? Value(ArgumentResult result)
    {
        var taken = result.Tokens.TakeWhile(t => !LooksLikeOption(t.Value)).Count();
        var value = taken > 0 ? result.Tokens[0].Value : null;
        if (taken == result.Tokens.Count) return value;
        if (result.Parent is CommandResult { Command.TreatUnmatchedTokensAsErrors: true })
        {
            // Passed on, the token would be reported twice (unmatched, and this argument's conversion failing).
            result.AddError($"unrecognized command or argument '{result.Tokens[taken].Value}'");
            return null;
        }
        result.OnlyTake(taken);   // unmatched: a configuration setting, or an unknown option ConfigurationSettings rejects
        return value;
    }

    private static bool LooksLikeOption(string token) => token.Length > 1 && token[0] == '-';
}

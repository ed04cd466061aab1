using System.CommandLine;
using System.Runtime.CompilerServices;

namespace Fusion.Cli;

/// <summary>
/// Commands that pass configuration settings through to the worker's configuration (<c>--Worker:KEY=VALUE</c>,
/// <c>--Logging:…</c>): System.CommandLine leaves them unmatched, so such a command must not treat unmatched tokens as
/// errors — and then this check rejects every unmatched token that is not a setting of an accepted section, as the
/// parser does for every other command.
/// </summary>
public static class ConfigurationSettings
{
    private static readonly ConditionalWeakTable<Command, string[]> Sections = new();

    /// <summary>Lets <paramref name="command"/> take <c>--SECTION:KEY=VALUE</c> settings of <paramref name="sections"/>.</summary>
    public static Command Accept(Command command, params string[] sections)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        Sections.AddOrUpdate(command, sections);
        return command;
    }

    /// <summary>The unmatched tokens of <paramref name="parse"/> that are not settings its command accepts, as one error (null: none).</summary>
    public static string? Reject(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var sections = Sections.TryGetValue(command, out var s) ? s : [];
        var bad = new List<string>();
        var tokens = parse.UnmatchedTokens;
        for (var i = 0; i < tokens.Count; i++)
        {
            if (!IsSetting(tokens[i], sections)) { bad.Add(tokens[i]); continue; }
            // --Worker:KEY VALUE: the configuration pairs the key with the next token.
            if (!tokens[i].Contains('=') && i + 1 < tokens.Count && !tokens[i + 1].StartsWith('-')) i++;
        }
        if (bad.Count == 0) return null;
        var settings = sections.Length == 0 ? "" : $" (configuration settings: {string.Join(", ", sections.Select(x => $"--{x}:KEY=VALUE"))})";
        return $"unrecognized command or argument {string.Join(", ", bad.Select(t => $"'{t}'"))}{settings}";
    }

    private static bool IsSetting(string token, string[] sections) =>
        sections.Any(s => token.StartsWith($"--{s}:", StringComparison.OrdinalIgnoreCase) && token.Length > s.Length + 3);
}

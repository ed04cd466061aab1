using System.CommandLine;

namespace Fusion.Cli;

/// <summary>The known option an unrecognized token was probably meant to be (a typo within two edits).</summary>
public static class OptionSuggestion
{
    /// <summary>The option of <paramref name="command"/> (or a recursive one of its parents) within two edits of an unknown option token, if any.</summary>
    public static string? Nearest(string token, Command command)
    {
        if (!token.StartsWith('-')) return null;
        var name = token.Split('=', 2)[0];
        var options = new List<Option>(command.Options);
        for (var parent = command.Parents.OfType<Command>().FirstOrDefault(); parent is not null; parent = parent.Parents.OfType<Command>().FirstOrDefault())
            options.AddRange(parent.Options.Where(o => o.Recursive));
        var names = options.SelectMany(o => o.Aliases.Prepend(o.Name)).ToList();
        if (names.Contains(name)) return null;
        return names.Select(n => (Name: n, Distance: Distance(name, n))).Where(c => c.Distance <= Math.Min(2, c.Name.Length / 3))
            .OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
    }

    /// <summary>Levenshtein distance.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Fusion.Cli;

/// <summary>
/// Parses the values of every int, long and double option of a command tree itself, so a value that is not a number
/// reads "--jobs: 'abc' is not a whole number" instead of System.CommandLine's message naming a .NET type.
/// </summary>
public static class NumberOptions
{
    public static void ParseIn(Command command)
    {
        foreach (var option in command.Options) Parse(option);
        foreach (var sub in command.Subcommands) ParseIn(sub);
    }

    private static void Parse(Option option)
    {
        switch (option)
        {
            case Option<int> o: o.CustomParser = r => Whole<int>(o, r); break;
            case Option<int?> o: o.CustomParser = r => Whole<int>(o, r); break;
            case Option<long> o: o.CustomParser = r => Whole<long>(o, r); break;
            case Option<long?> o: o.CustomParser = r => Whole<long>(o, r); break;
            case Option<double> o: o.CustomParser = r => Real(o, r); break;
            case Option<double?> o: o.CustomParser = r => Real(o, r); break;
        }
    }

    private static T Whole<T>(Option option, ArgumentResult result) where T : struct, IBinaryInteger<T> =>
        Read<T>(option, result, NumberStyles.AllowLeadingSign, "a whole number");

    private static double Real(Option option, ArgumentResult result) =>
        Read<double>(option, result, NumberStyles.Float, "a number", double.IsFinite);

    private static T Read<T>(Option option, ArgumentResult result, NumberStyles style, string what, Func<T, bool>? finite = null) where T : struct, INumber<T>
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (T.TryParse(text, style, CultureInfo.InvariantCulture, out var value) && (finite?.Invoke(value) ?? true)) return value;
        result.AddError($"{option.Name}: '{text}' is not {what}");
        return default;
    }
}

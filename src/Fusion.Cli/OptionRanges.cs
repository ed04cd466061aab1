using System.CommandLine;
using System.Globalization;
using Fusion.Workflow.Stages;

namespace Fusion.Cli;

/// <summary>Declared ranges of numeric options, checked when the command line is parsed (exit 2 naming the option, its range and the value).</summary>
public static class OptionRanges
{
    public static Option<T> Within<T>(this Option<T> option, ParamRangeAttribute range) where T : IConvertible =>
        Check(option, range, result => result.GetValueOrDefault<T>());

    /// <summary>The same for an optional value (unset: no check).</summary>
    public static Option<T?> Within<T>(this Option<T?> option, ParamRangeAttribute range) where T : struct, IConvertible =>
        Check(option, range, result => result.GetValueOrDefault<T?>());

    private static Option<TOption> Check<TOption>(Option<TOption> option, ParamRangeAttribute range, Func<System.CommandLine.Parsing.OptionResult, IConvertible?> read)
    {
        option.Validators.Add(result =>
        {
            IConvertible? value;
            try { value = read(result); }
            catch (InvalidOperationException) { return; }   // not a number at all: the parser reports that itself
            if (value is not null && !range.Contains(value.ToDouble(CultureInfo.InvariantCulture)))
                result.AddError($"{option.Name} must be {range}, got {Convert.ToString(value, CultureInfo.InvariantCulture)}");
        });
        return option;
    }
}

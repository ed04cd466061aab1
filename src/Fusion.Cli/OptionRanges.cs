using System.CommandLine;
using System.Globalization;
using Fusion.Workflow.Stages;

namespace Fusion.Cli;

/// <summary>Declared ranges of numeric options, checked when the command line is parsed (exit 2 naming the option, its range and the value).</summary>
public static class OptionRanges
{
    public static Option<T> Within<T>(this Option<T> option, ParamRangeAttribute range) where T : IConvertible
    {
        option.Validators.Add(result =>
        {
            T value;
            try { value = result.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; }   // not a number at all: the parser reports that itself
            if (!range.Contains(value.ToDouble(CultureInfo.InvariantCulture)))
                result.AddError($"{option.Name} must be {range}, got {Convert.ToString(value, CultureInfo.InvariantCulture)}");
        });
        return option;
    }

    /// <summary>The same for an optional value (unset: no check).</summary>
    public static Option<T?> Within<T>(this Option<T?> option, ParamRangeAttribute range) where T : struct, IConvertible
    {
        option.Validators.Add(result =>
        {
            T? value;
            try { value = result.GetValueOrDefault<T?>(); }
            catch (InvalidOperationException) { return; }
            if (value is { } v && !range.Contains(v.ToDouble(CultureInfo.InvariantCulture)))
                result.AddError($"{option.Name} must be {range}, got {Convert.ToString(v, CultureInfo.InvariantCulture)}");
        });
        return option;
    }
}

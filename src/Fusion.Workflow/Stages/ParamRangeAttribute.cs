using System.Globalization;

namespace Fusion.Workflow.Stages;

/// <summary>
/// The values a numeric stage param accepts (for a list param: each element), checked when a pipeline loads, for file
/// params, profiles and <c>-p</c> overrides alike. Set the bounds that apply: <see cref="Min"/> / <see cref="Max"/>
/// are inclusive, <see cref="Above"/> / <see cref="Below"/> exclusive; <c>[ParamRange(Min = 0, Below = 1)]</c> is [0, 1).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = true)]
public sealed class ParamRangeAttribute : Attribute
{
    // NaN = no bound on that side (attribute arguments must be constants, so no nullable doubles).
    public double Min { get; init; } = double.NaN;
    public double Max { get; init; } = double.NaN;
    public double Above { get; init; } = double.NaN;
    public double Below { get; init; } = double.NaN;

    public bool Contains(double value) =>
        !(value < Min || value > Max || value <= Above || value >= Below);   // comparisons with NaN are false: no bound

    /// <summary>The range as people read it: "≥ 1", "> 0", "in [0, 1)".</summary>
    public override string ToString()
    {
        var low = !double.IsNaN(Min) ? ("[", Min) : !double.IsNaN(Above) ? ("(", Above) : ((string, double)?)null;
        var high = !double.IsNaN(Max) ? ("]", Max) : !double.IsNaN(Below) ? (")", Below) : ((string, double)?)null;
        static string N(double v) => v.ToString(CultureInfo.InvariantCulture);
        return (low, high) switch
        {
            ({ } l, { } h) => $"in {l.Item1}{N(l.Item2)}, {N(h.Item2)}{h.Item1}",
            ({ } l, null) => $"{(l.Item1 == "[" ? "≥" : ">")} {N(l.Item2)}",
            (null, { } h) => $"{(h.Item1 == "]" ? "≤" : "<")} {N(h.Item2)}",
            _ => "any number",
        };
    }
}

namespace Fusion.Worker.Regression;

/// <summary>
/// How far a metric may move in its bad direction (<see cref="Allowed"/>), which term of its <see cref="MetricRule"/>
/// set it (<see cref="Basis"/>: "absolute", "3% relative", "4 sd·√(1+1/3)"), and whether the rule asked for a spread
/// that the baseline lacks (blessed from one run).
/// </summary>
public sealed record Tolerance(double Allowed, string Basis, bool NoSpread)
{
    public const string NoSpreadNote = "no spread measured: bless ≥ 2 runs";
}

using System.Globalization;

namespace Fusion.Reproduction.Measurement;

/// <summary>
/// What else the machine was doing while timings were taken: CPU model, logical cores and the 1-minute load average
/// (Linux /proc; "unknown" elsewhere). Timings without it cannot be told apart from a busy machine's.
/// </summary>
public sealed record MachineSnapshot(string CpuModel, int LogicalCores, double? LoadAverage1Min)
{
    public static MachineSnapshot Take() => new(ReadCpuModel(), Environment.ProcessorCount, LoadAverage());

    public string LoadText => LoadAverage1Min is { } l ? l.ToString("F2", CultureInfo.InvariantCulture) : "unknown";

    private static string ReadCpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is var colon and > 0) return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown";
    }

    private static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}

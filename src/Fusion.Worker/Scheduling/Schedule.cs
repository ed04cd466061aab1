using System.Globalization;
using System.Text.RegularExpressions;
using Cronos;

namespace Fusion.Worker.Scheduling;

/// <summary>A validated schedule: occurrence arithmetic in its time zone and the run id of each occurrence.</summary>
public sealed partial class Schedule
{
    private static readonly string[] RunIdFormats = ["yyyy-MM-dd", "yyyy-MM-dd-HHmm", "yyyy-MM-dd-HHmmss"];

    public string Name { get; }
    public ScheduleOptions Options { get; }
    public CronExpression Cron { get; }
    public TimeZoneInfo Zone { get; }
    public string RunIdFormat { get; }

    /// <summary>The baseline to compare against, or null when the schedule has no regression check.</summary>
    public string? BaselineName => Options.Baseline switch { null => Name, "" => null, var b => b };

    public Schedule(string name, ScheduleOptions options)
    {
        if (!NamePattern().IsMatch(name))
            throw new ArgumentException($"schedule name '{name}' must be lower-case letters, digits and '-' (it starts every run id)");
        Name = name;
        Options = options;
        var where = $"schedule '{name}'";
        if (string.IsNullOrWhiteSpace(options.Pipeline)) throw new ArgumentException($"{where}: Pipeline is empty");
        var fields = options.Cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        try
        {
            Cron = CronExpression.Parse(options.Cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            throw new ArgumentException($"{where}: cron expression '{options.Cron}' is invalid ({e.Message}); use 5 fields, or 6 with seconds first", e);
        }
        try { Zone = TimeZoneInfo.FindSystemTimeZoneById(options.TimeZone); }
        catch (TimeZoneNotFoundException e) { throw new ArgumentException($"{where}: unknown time zone '{options.TimeZone}'", e); }
        if (options.CatchUp < TimeSpan.Zero) throw new ArgumentException($"{where}: CatchUp must not be negative");
        RunIdFormat = options.RunIdFormat ?? RunIdFormats.FirstOrDefault(KeepsOccurrencesApart)
            ?? throw new ArgumentException($"{where}: occurrences closer than a second apart cannot get distinct run ids");
        if (!KeepsOccurrencesApart(RunIdFormat))
            throw new ArgumentException($"{where}: RunIdFormat '{RunIdFormat}' gives two occurrences the same run id");
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/>, or null when the expression never fires again.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) => Cron.GetNextOccurrence(after, Zone);

    /// <summary>
    /// The missed-run policy: the most recent occurrence in (now − CatchUp, now], or null. Only that one: a worker that
    /// was down for a week runs last night's schedule once, not seven times.
    /// </summary>
    public DateTimeOffset? MissedOccurrence(DateTimeOffset now)
    {
        if (Options.CatchUp <= TimeSpan.Zero) return null;
        var from = now - Options.CatchUp;
        DateTimeOffset? latest = null;
        foreach (var o in Cron.GetOccurrences(from, now, Zone, fromInclusive: false, toInclusive: true)) latest = o;
        return latest;
    }

    /// <summary>The run id of an occurrence, e.g. "nightly-2026-11-26": the same occurrence always maps to the same id.</summary>
    public string RunId(DateTimeOffset occurrence) =>
        $"{Name}-{TimeZoneInfo.ConvertTime(occurrence, Zone).ToString(RunIdFormat, CultureInfo.InvariantCulture)}";

    private bool KeepsOccurrencesApart(string format)
    {
        var ids = new HashSet<string>();
        var t = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 400 && NextAfter(t) is { } next; i++, t = next)
            if (!ids.Add(TimeZoneInfo.ConvertTime(next, Zone).ToString(format, CultureInfo.InvariantCulture))) return false;
        return true;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex NamePattern();
}

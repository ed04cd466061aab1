using System.Diagnostics;
using System.Globalization;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;

namespace Fusion.Reproduction.Seeds;

/// <summary>Why a run that adds seeds stopped.</summary>
public enum StopCause { Decided, SeedCap, Budget, RunEnded }

/// <summary>The last look of a run that adds seeds: its run record, how many seeds, and why it stopped.</summary>
public sealed record SequentialOutcome(RunRecord Run, int Seeds, StopCause Cause, string Reason);

/// <summary>
/// <c>fusion run --until-decided</c>: runs the pipeline, then adds one training seed at a time (every node of the new
/// seed, side by side where the device pool allows) and judges again, until the report's headline quality claims are
/// all supported, not supported or equivalent, the seed cap is reached, or the next look would overrun the budget.
/// Each look is an ordinary run: its report is judged at the look's level of the sequential design
/// (<see cref="Statistics.SequentialDesign"/>, passed as the report's <c>max_seeds</c>), so a look repeats exactly,
/// and a killed run resumes by running the same command — earlier looks are cached and decide as they did.
/// </summary>
public sealed class UntilDecided(Func<IReadOnlyList<string>, Pipeline> load, Func<Pipeline, IReadOnlyList<string>, CancellationToken, Task<RunRecord>> run)
{
    /// <param name="overrides">The user's <c>-p</c> overrides; this adds the seed list and the report's design.</param>
    /// <param name="onLook">Told after each look: seeds so far and how many claims are undecided.</param>
    public async Task<SequentialOutcome> RunAsync(IReadOnlyList<string> overrides, int maxSeeds, TimeSpan? budget, Action<int, int>? onLook, CancellationToken ct)
    {
        var plain = load(overrides);
        var (stage, initial) = SeedStage(plain);
        var report = ReportStageOf(plain);
        if (initial.Count > maxSeeds)
            throw new PipelineException($"--max-seeds {maxSeeds} is below the {initial.Count} seeds the pipeline already declares ({stage}.seeds)", SourceLocation.CommandLine, "--max-seeds");
        var clock = Stopwatch.StartNew();
        var seeds = initial.ToList();
        RunRecord? last = null;
        while (true)
        {
            if (ct.IsCancellationRequested && last is not null) return new(last, seeds.Count - 1, StopCause.RunEnded, $"interrupted before the look at {seeds.Count} seeds");
            var lookStarted = clock.Elapsed;
            var record = await Run(overrides, stage, seeds, report, maxSeeds, null, ct);
            if (record.State != RunState.Succeeded) return new(record, seeds.Count, StopCause.RunEnded, $"the run {record.State.ToString().ToLowerInvariant()} at {seeds.Count} seeds");
            last = record;
            var undecided = Undecided(record, report);
            onLook?.Invoke(seeds.Count, undecided);
            if (undecided == 0) return new(record, seeds.Count, StopCause.Decided, $"every headline quality claim is decided after {seeds.Count} seeds");
            if (seeds.Count >= maxSeeds) return new(record, seeds.Count, StopCause.SeedCap, $"the seed cap of {maxSeeds} is reached with {undecided} claim(s) undecided");
            // A look costs about what the last one did; stop before one that would end past the budget.
            if (budget is { } b && clock.Elapsed + (clock.Elapsed - lookStarted) > b)
            {
                var reason = $"the next seed would overrun the budget of {b} ({seeds.Count} seeds in {clock.Elapsed:hh\\:mm\\:ss})";
                record = await Run(overrides, stage, seeds, report, maxSeeds, reason, ct);
                return new(record, seeds.Count, StopCause.Budget, reason);
            }
            seeds.Add(NextSeed(seeds));
        }
    }

    /// <summary>The stage that declares seeds (exactly one) and its seeds, in the order the nodes list them.</summary>
    public static (string Stage, IReadOnlyList<long> Seeds) SeedStage(Pipeline pipeline)
    {
        var stages = pipeline.Nodes.Where(n => n.Seeded).Select(n => n.Stage).Distinct().ToList();
        if (stages.Count != 1)
            throw new PipelineException(stages.Count == 0
                ? $"pipeline {pipeline.Name} declares no seeds: adding seeds needs a training stage with 'seeds: [1]'"
                : $"pipeline {pipeline.Name} declares seeds in {string.Join(", ", stages)}: adding seeds needs exactly one seeded stage", SourceLocation.CommandLine, "--until-decided");
        var seeds = pipeline.Nodes.Where(n => n.Stage == stages[0]).Select(n => long.Parse(n.Params[SeedAxis.Param], CultureInfo.InvariantCulture)).Distinct().ToList();
        return (stages[0], seeds);
    }

    /// <summary>The report stage that judges the claims (exactly one node of kind report).</summary>
    public static string ReportStageOf(Pipeline pipeline)
    {
        var reports = pipeline.Nodes.Where(n => n.Kind == "report").ToList();
        return reports.Count == 1 ? reports[0].Stage
            : throw new PipelineException($"pipeline {pipeline.Name} has {reports.Count} report nodes; judging its claims needs exactly one", SourceLocation.CommandLine, "--until-decided");
    }

    /// <summary>The smallest seed above all used so far.</summary>
    public static long NextSeed(IReadOnlyList<long> seeds) => seeds.Max() + 1;

    /// <summary>One look: the pipeline under the user's overrides, these seeds and the report's design.</summary>
    private Task<RunRecord> Run(IReadOnlyList<string> overrides, string stage, IReadOnlyList<long> seeds, string report, int maxSeeds, string? stopReason, CancellationToken ct)
    {
        IReadOnlyList<string> look = [.. overrides,
            $"{stage}.{SeedAxis.Key}=[{string.Join(",", seeds.Select(s => s.ToString(CultureInfo.InvariantCulture)))}]",
            $"{report}.max_seeds={maxSeeds.ToString(CultureInfo.InvariantCulture)}",
            .. stopReason is null ? Array.Empty<string>() : [$"{report}.stop_reason='{stopReason.Replace("'", "''")}'"]];
        return run(load(look), look, ct);
    }

    private static int Undecided(RunRecord record, string report)
    {
        var node = record.Nodes.LastOrDefault(n => n.NodeId == report && n.State is NodeState.Ran or NodeState.Cached)
            ?? throw new InvalidOperationException($"run {record.RunId} has no committed {report} node to judge");
        return node.Summary?.TryGetValue(ReportStage.UndecidedKey, out var n) == true ? int.Parse(n, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"{report} of run {record.RunId} does not say how many claims are undecided (a report of an older code version?)");
    }
}

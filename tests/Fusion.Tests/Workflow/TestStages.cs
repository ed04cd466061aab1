using System.Globalization;
using Fusion.Artifacts.Tables;
using Fusion.Workflow.Stages;

namespace Fusion.Tests.Workflow;

// Stage kinds for engine tests only (also loaded by child `fusion` processes through --plugin).

public enum Mode { Plain, EarlyConcat, IntermediateCross }

public sealed record ConstantParams
{
    public string Text { get; init; } = "hello";
    [ParamRange(Min = 0)]
    public int Repeat { get; init; } = 1;
    public string? Variant { get; init; }
}

/// <summary>Writes its text (repeated) to out.txt.</summary>
public sealed class ConstantStage : StageKind<ConstantParams>
{
    public override string Name => "constant";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["out.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, ConstantParams p) =>
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), string.Concat(Enumerable.Repeat(p.Text + (p.Variant ?? ""), p.Repeat)), context.CancellationToken);
}

public sealed record TransformParams
{
    public double Factor { get; init; } = 1.0;
    [ParamRange(Above = 0, Below = 1)]
    public float Scale { get; init; } = 0.5f;
    public Mode Mode { get; init; } = Mode.Plain;
    [ParamRange(Min = 0, Max = 99)]
    public int[] Tags { get; init; } = [];
    public bool Upper { get; init; }
    public long Seed { get; init; } = 7;
}

/// <summary>Reads its single input and writes a line describing the params in front of it.</summary>
public class TransformStage : StageKind<TransformParams>
{
    public override string Name => "transform";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("source")];
    public override IReadOnlyList<string> Outputs => ["out.txt"];

    public override async Task RunAsync(StageContext context, TransformParams p)
    {
        var text = await File.ReadAllTextAsync(await context.Input("source").GetPathAsync("out.txt"));
        var line = string.Create(CultureInfo.InvariantCulture, $"{context.NodeId} x{p.Factor} {p.Mode} [{string.Join(",", p.Tags)}] {context.Environment.Device}");
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), (p.Upper ? text.ToUpperInvariant() : text) + "\n" + line);
    }
}

/// <summary>The same stage kind at code version 2 (registered instead of <see cref="TransformStage"/> by tests).</summary>
internal sealed class TransformStageV2 : TransformStage
{
    public override string CodeVersion => "2";
}

public sealed record GatherParams
{
    public string Separator { get; init; } = "|";
}

/// <summary>Joins all its inputs (a Many input).</summary>
public sealed class GatherStage : StageKind<GatherParams>
{
    public override string Name => "gather";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("parts", Many: true)];
    public override IReadOnlyList<string> Outputs => ["out.txt"];

    public override async Task RunAsync(StageContext context, GatherParams p)
    {
        var texts = new List<string>();
        foreach (var input in context.Inputs["parts"]) texts.Add(input.NodeId + "=" + await File.ReadAllTextAsync(await input.GetPathAsync("out.txt")));
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), string.Join(p.Separator, texts));
        context.Summary["parts"] = texts.Count.ToString(CultureInfo.InvariantCulture);
    }
}

public sealed record CountParams
{
    public int Steps { get; init; } = 10;
    public int DelayMs { get; init; }
    /// <summary>Folder where every attempt appends a line (tests count executions); empty = none.</summary>
    public string Journal { get; init; } = "";
    /// <summary>When set, every step waits until this file exists (lets a test hold the node at a known point).</summary>
    public string Gate { get; init; } = "";
    /// <summary>CPU threads the node declares (0: every core), as a torch stage's <c>threads</c> param.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// A resumable long stage: counts to Steps, saving a checkpoint (the step) in its scratch folder after every step,
/// and resuming from it. Writes out.txt = "steps=N resumed_from=K".
/// </summary>
public sealed class CountStage : StageKind<CountParams>
{
    public const string Checkpoint = "step.txt";
    private static readonly object JournalLock = new();

    // Concurrent nodes append to one journal: one writer at a time in this process, and a retry when another process
    // holds the file (an append that failed would leave the test waiting for a line that never comes).
    private static void AppendJournal(string path, string line)
    {
        lock (JournalLock)
            for (var attempt = 0; ; attempt++)
                try { File.AppendAllText(path, line); return; }
                catch (IOException) when (attempt < 100) { Thread.Sleep(20); }
    }
    public override string Name => "count";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["out.txt"];

    public override async Task RunAsync(StageContext context, CountParams p)
    {
        var checkpoint = Path.Combine(context.ScratchDirectory, Checkpoint);
        var start = File.Exists(checkpoint) ? int.Parse(File.ReadAllText(checkpoint), CultureInfo.InvariantCulture) : 0;
        if (p.Journal.Length > 0)
        {
            Directory.CreateDirectory(p.Journal);
            AppendJournal(Path.Combine(p.Journal, "attempts.txt"), $"{Environment.ProcessId} from {start}\n");
        }
        // The threads the node's code ran on, awaits included (a device slot's node stays on its ComputeThread).
        var threads = new HashSet<string>(StringComparer.Ordinal);
        void Seen() => threads.Add(Thread.CurrentThread.Name ?? $"unnamed #{Environment.CurrentManagedThreadId}");
        Seen();
        // Also write a partial output, to prove it never becomes visible before the commit.
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), "partial");
        Seen();
        for (var step = start; step < p.Steps; step++)
        {
            context.Progress.Report(step, p.Steps, "step");
            if (p.DelayMs > 0) await Task.Delay(p.DelayMs, context.CancellationToken);
            while (p.Gate.Length > 0 && !File.Exists(p.Gate)) await Task.Delay(20, context.CancellationToken);
            Seen();
            context.CancellationToken.ThrowIfCancellationRequested();
            var temp = checkpoint + ".tmp";
            File.WriteAllText(temp, (step + 1).ToString(CultureInfo.InvariantCulture));
            File.Move(temp, checkpoint, overwrite: true);
        }
        context.Progress.Report(p.Steps, p.Steps, "step");
        await File.WriteAllTextAsync(context.OutputPath("out.txt"), $"steps={p.Steps} resumed_from={start}");
        Seen();
        context.Summary["resumed_from"] = start.ToString(CultureInfo.InvariantCulture);
        context.Summary["threads"] = string.Join(",", threads.Order(StringComparer.Ordinal));
    }
}

public sealed record FailParams
{
    public string Message { get; init; } = "boom";
}

public sealed class FailStage : StageKind<FailParams>
{
    public override string Name => "fail";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("source", Optional: true)];

    public override async Task RunAsync(StageContext context, FailParams p)
    {
        await File.WriteAllTextAsync(context.OutputPath("half.txt"), "half");
        throw new InvalidOperationException(p.Message);
    }
}

public sealed record TableParams
{
    [ParamRange(Min = 1)]
    public int Rows { get; init; } = 2000;
    /// <summary>Writes the table damaged: the middle of its data pages becomes noise before it is committed.</summary>
    public bool Damaged { get; init; }
}

/// <summary>Writes a metrics table of <c>rows</c> rows (Snappy-compressed, as the real stages write them).</summary>
public sealed class TableStage : StageKind<TableParams>
{
    public override string Name => "table";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["metrics.parquet"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, TableParams p)
    {
        var path = context.OutputPath("metrics.parquet");
        await MetricsTable.WriteAsync(path, Enumerable.Range(0, p.Rows).Select(i => new MetricRow($"m{i}", i * 0.5, "unit")), ct: context.CancellationToken);
        if (p.Damaged) Garble(path);
    }

    /// <summary>Keeps the size and the magic bytes; the middle of the data pages becomes noise.</summary>
    public static void Garble(string path)
    {
        var bytes = File.ReadAllBytes(path);
        for (var i = 8; i < bytes.Length / 2; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
    }
}

public sealed record TableSumParams;

/// <summary>Reads its input's metrics table and writes the sum of its values.</summary>
public sealed class TableSumStage : StageKind<TableSumParams>
{
    public override string Name => "table-sum";
    public override string CodeVersion => "1";
    public override IReadOnlyList<StageInput> Inputs => [new("source")];
    public override IReadOnlyList<string> Outputs => ["sum.txt"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, TableSumParams p)
    {
        var rows = await MetricsTable.ReadAsync(await context.Input("source").GetPathAsync("metrics.parquet"), context.CancellationToken);
        await File.WriteAllTextAsync(context.OutputPath("sum.txt"), rows.Sum(r => r.Value).ToString(CultureInfo.InvariantCulture));
    }
}

public sealed record FillParams
{
    [ParamRange(Min = 0)]
    public long Bytes { get; init; } = 1 << 20;
}

/// <summary>Writes <c>bytes</c> zero bytes to fill.bin (to run out of disk space).</summary>
public sealed class FillStage : StageKind<FillParams>
{
    public override string Name => "fill";
    public override string CodeVersion => "1";
    public override IReadOnlyList<string> Outputs => ["fill.bin"];
    public override IReadOnlySet<string>? EnvironmentDependencies => new HashSet<string>();

    public override async Task RunAsync(StageContext context, FillParams p)
    {
        await using var file = File.Create(context.OutputPath("fill.bin"));
        var block = new byte[64 * 1024];
        for (var left = p.Bytes; left > 0; left -= block.Length)
            await file.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, left)), context.CancellationToken);
    }
}

using System.Collections.Concurrent;
using Fusion.Reproduction.Stages;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Fusion.Cli;

/// <summary>
/// Shows a run as it happens: a Spectre.Console progress bar per running node (it/s and ETA) on a terminal, plain
/// lines (progress every 10 s) when output is redirected; large blob-store transfers show the same way.
/// </summary>
public sealed class ConsoleRunObserver(ProgressContext? progress) : IRunObserver
{
    private readonly ConcurrentDictionary<string, (ProgressTask? Task, ProgressMeter Meter)> running = new();
    private readonly ConcurrentDictionary<string, (ProgressTask? Task, ProgressMeter Meter, string Label)> transfers = new();
    private readonly ConcurrentDictionary<string, string> placed = new();
    private int curvesShown;

    /// <summary>Transfers below this size come and go too fast to be worth a line.</summary>
    public const long ShownTransferBytes = 16L << 20;
    private static readonly Lock Gate = new();

    public void NodeWaiting(PlannedNode node, string why) => Line($"[yellow]…[/] {Markup.Escape(node.Id)} {Markup.Escape(why)}", $"wait    {node.Id}: {why}");

    public void NodePlaced(PlannedNode node, string device) => placed[node.Id] = device;

    /// <summary>Once per run, for the first training node: where TensorBoard finds the live curves of every node.</summary>
    public void NodeScratch(PlannedNode node, string scratchDirectory)
    {
        if (node.Definition.Kind != TrainStage.KindName || Interlocked.Exchange(ref curvesShown, 1) == 1) return;
        var root = Path.GetDirectoryName(Path.GetFullPath(scratchDirectory).TrimEnd(Path.DirectorySeparatorChar))!;
        Line($"[blue]📈[/] live curves: [bold]tensorboard --logdir {Markup.Escape(root)}[/]", $"curves  tensorboard --logdir {root}");
    }

    public void NodeStarted(PlannedNode node, IReadOnlyList<string> reasons)
    {
        var task = progress?.AddTask(Markup.Escape(node.Id), maxValue: 1);
        if (task is not null) task.IsIndeterminate = true;
        running[node.Id] = (task, new ProgressMeter("it"));
        var why = (placed.TryRemove(node.Id, out var device) ? $" on {device}" : "") + (reasons.Count > 0 ? " — " + string.Join("; ", reasons) : "");
        Line($"[blue]▶[/] {Markup.Escape(node.Id)} [grey]{node.Short}{Markup.Escape(why)}[/]", $"run     {node.Id} {node.Short}{why}");
    }

    public void NodeProgress(PlannedNode node, long current, long total, string unit)
    {
        if (!running.TryGetValue(node.Id, out var r)) return;
        r.Meter.Unit = unit;
        r.Meter.Update(current, total);
        if (r.Task is { } task)
        {
            task.IsIndeterminate = total <= 0;
            task.MaxValue = Math.Max(1, total);
            task.Value = Math.Min(current, task.MaxValue);
            task.Description = Markup.Escape($"{node.Id} {current}/{total} {unit}");
        }
        else if (r.Meter.SinceLastPrint > TimeSpan.FromSeconds(10) || current == total)
        {
            r.Meter.MarkPrinted();
            var pct = total > 0 ? $" ({100.0 * current / total:F1}%)" : "";
            Plain($"        {node.Id}: {current}/{total} {unit}{pct} {r.Meter.RateText()} {r.Meter.EtaText()}".TrimEnd());
        }
    }

    public void NodeFinished(PlannedNode node, NodeOutcome outcome)
    {
        if (running.TryRemove(node.Id, out var r) && r.Task is { } task)
        {
            task.IsIndeterminate = false;
            task.Value = task.MaxValue;
            task.StopTask();
        }
        var time = ProgressMeter.Format(outcome.Elapsed);
        var (mark, word) = outcome.State switch
        {
            NodeState.Cached => ("[green]✓[/]", outcome.ReusedFromConcurrentRun ? "reused (computed by another run)" : "cached"),
            NodeState.Ran => ("[green]✔[/]", $"done in {time}"),
            NodeState.Interrupted => ("[yellow]■[/]", $"interrupted after {time}"),
            NodeState.Skipped => ("[grey]-[/]", "skipped"),
            _ => ("[red]✗[/]", $"failed after {time}"),
        };
        var error = outcome.Error is null ? "" : ": " + outcome.Error;
        Line($"{mark} {Markup.Escape(node.Id)} [grey]{node.Short}[/] {Markup.Escape(word + error)}",
            $"{outcome.State.ToString().ToLowerInvariant(),-7} {node.Id} {node.Short} {word}{error}");
    }

    /// <summary>
    /// A blob store upload (commit) or download (into the local cache) of <paramref name="blob"/>, in MB; called from
    /// the transfer's threads. Shows "⇅ NAME (FINGERPRINT)" from the blob name <c>…/artifacts/FP/UPLOAD/NAME</c>.
    /// </summary>
    public void Transfer(string blob, long done, long total)
    {
        if (total < ShownTransferBytes) return;
        (ProgressTask? Task, ProgressMeter Meter, string Label) r;
        lock (Gate)
        {
            if (!transfers.TryGetValue(blob, out r))
            {
                var parts = blob.Split('/');
                var label = parts.Length >= 4 && parts[^4] == "artifacts" ? $"⇅ {parts[^1]} ({parts[^3][..Math.Min(12, parts[^3].Length)]})" : $"⇅ {parts[^1]}";
                r = (progress?.AddTask(Markup.Escape(label), maxValue: total / 1e6), new ProgressMeter("MB"), label);
                transfers[blob] = r;
            }
        }
        r.Meter.Update(done / 1_000_000, total / 1_000_000);
        if (r.Task is { } task) task.Value = done / 1e6;
        else if (r.Meter.SinceLastPrint > TimeSpan.FromSeconds(10) || done == total)
        {
            r.Meter.MarkPrinted();
            Plain($"        {r.Label}: {done / 1e6:F0}/{total / 1e6:F0} MB {r.Meter.RateText()} {r.Meter.EtaText()}".TrimEnd());
        }
        if (done == total && transfers.TryRemove(blob, out var finished)) finished.Task?.StopTask();
    }

    /// <summary>Meter text for a progress task (rate and ETA).</summary>
    public string MeterText(ProgressTask task) =>
        running.Values.Concat(transfers.Values.Select(t => (t.Task, t.Meter))).FirstOrDefault(r => r.Task == task).Meter is { } m ? $"{m.RateText()} {m.EtaText()}".Trim() : "";

    private void Line(string markup, string plain)
    {
        if (progress is not null) lock (Gate) AnsiConsole.MarkupLine(markup);
        else Plain(plain);
    }

    private static void Plain(string text)
    {
        lock (Gate) Console.WriteLine($"{DateTime.Now:HH:mm:ss} {text}");
    }

    /// <summary>The "12.3 step/s ETA 4m10s" column of the progress display.</summary>
    public sealed class MeterColumn(Func<ProgressTask, string> text) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new Text(text(task), new Style(Color.Grey));
    }
}

using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Fusion.Models;

namespace Fusion.Cli;

/// <summary>
/// `fusion bench [NAME] [-s key=value]`: runs the benchmarks of the libraries, as <see cref="Benchmarks"/> lists them.
/// </summary>
public static class BenchCommand
{
    public static Command Build()
    {
        var name = new Argument<string?>("name") { Arity = ArgumentArity.ZeroOrOne, Description = "benchmark to run (omit to list them)" };
        var set = new Option<string[]>("--set", "-s") { Description = "benchmark option key=value", AllowMultipleArgumentsPerToken = true };
        var markdown = new Option<bool>("--markdown") { Description = "print a Markdown table for docs/benchmarks.md" };
        var cmd = new Command("bench", "Measure speed and memory (results go in docs/benchmarks.md).") { name, set, markdown };
        cmd.SetAction(parse =>
        {
            var all = Benchmarks.All;
            var wanted = parse.GetValue(name);
            if (wanted is null)
            {
                foreach (var k in all.Keys.Order()) AnsiConsole.WriteLine(k);
                return 0;
            }
            if (!all.TryGetValue(wanted, out var run))
            {
                AnsiConsole.MarkupLine($"[red]unknown benchmark '{Markup.Escape(wanted)}'[/]; available: {string.Join(", ", all.Keys.Order())}");
                return 2;
            }
            var options = new Dictionary<string, string>();
            foreach (var kv in parse.GetValue(set) ?? [])
            {
                var i = kv.IndexOf('=');
                if (i <= 0) { AnsiConsole.MarkupLine($"[red]--set expects key=value, got '{Markup.Escape(kv)}'[/]"); return 2; }
                options[kv[..i]] = kv[(i + 1)..];
            }
            var sw = Stopwatch.StartNew();
            var rows = run(options).ToList();
            var facts = TorchEnvironment.Facts();
            var header = $"{wanted} — {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, " +
                         string.Join(", ", facts.Select(f => $"{f.Key} {f.Value}")) + $", malloc {NativeHeap.Policy}" +
                         (options.Count > 0 ? ", options " + string.Join(" ", options.Select(o => $"{o.Key}={o.Value}")) : "") +
                         $", {sw.Elapsed.TotalSeconds:F1} s";
            if (parse.GetValue(markdown))
            {
                Console.WriteLine($"<!-- {header} -->");
                Console.WriteLine("| metric | value | unit |\n|---|---:|---|");
                foreach (var r in rows) Console.WriteLine($"| {r.Metric} | {Format(r.Value)} | {r.Unit} |");
            }
            else
            {
                var table = new Table { Title = new TableTitle(Markup.Escape(header)) }.AddColumns("metric", "value", "unit");
                foreach (var r in rows) table.AddRow(Markup.Escape(r.Metric), Format(r.Value), Markup.Escape(r.Unit));
                AnsiConsole.Write(table);
            }
            return 0;
        });
        return cmd;
    }

    private static string Format(double v) => Math.Abs(v) >= 100 || v == Math.Floor(v) ? v.ToString("N0") : v.ToString("G4");
}

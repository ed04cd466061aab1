using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Store.Local;
using Fusion.Workflow.Execution;

namespace Fusion.Workflow.Benchmarks;

/// <summary>
/// `fusion bench chaos [-s store=local|azurite] [-s kills=20] [-s seed=1] [-s window=20] [-s args="--profile tiny -p …"]
/// [-s reference=FOLDER] [-s keep=true]`: a crash test, not part of CI. Runs `fusion run ARGS` against a fresh store
/// and SIGKILLs it at <c>kills</c> random moments, restarting it each time; during every attempt a
/// `fusion gc --grace-hours 0` runs beside it with no pipeline plans to keep, so only the run's live claim protects
/// its artifacts (a gc that meets the run still starting up, before it registered, may delete them; the run then
/// recomputes what it needs). Then the run is finished uninterrupted and checked: its artifacts must be byte-identical (file names,
/// sizes, SHA-256) to an uninterrupted run's in a local reference store (made first unless <c>reference</c> names
/// one), timing nodes (measure, report) aside; `fusion run --verify` must find every node cached and intact; and
/// `fusion gc --dry-run` must find nothing to delete. Prints one line per attempt to stderr and counts problems in the
/// metrics (zero on a clean result); the work folder, with every attempt's log, is kept when there are any. The
/// working directory must find the pipeline (repo root).
/// </summary>
public static class ChaosBenchmark
{
    private static readonly string[] TimingStages = ["measure", "report"];

    /// <summary>The benchmark's <c>-s</c> options.</summary>
    private sealed record ChaosOptions(string Kind, int Kills, Random Random, double Window, string[] Args, string? Reference, bool Keep)
    {
        public static ChaosOptions Parse(IReadOnlyDictionary<string, string> options)
        {
            var kind = options.GetValueOrDefault("store", "local");
            if (kind is not ("local" or "azurite")) throw new ArgumentException($"store must be local or azurite, not '{kind}'");
            return new ChaosOptions(kind,
                int.Parse(options.GetValueOrDefault("kills", "20"), CultureInfo.InvariantCulture),
                new Random(int.Parse(options.GetValueOrDefault("seed", "1"), CultureInfo.InvariantCulture)),
                // An attempt lives 1-W s until gc starts beside it, then 0-W/2 s after gc is done; a loaded machine wants a larger W.
                double.Parse(options.GetValueOrDefault("window", "20"), CultureInfo.InvariantCulture),
                // Overrides move every fingerprint off the checked-in plans; CLIP checkpoints every 5 of its 20 steps (so a kill
                // does not restart it), and 150 steps give kills time to land in training.
                options.GetValueOrDefault("args", "--profile tiny -p data.train_images=200 -p clip.save_every=5 -p train.steps=150").Split(' ', StringSplitOptions.RemoveEmptyEntries),
                options.GetValueOrDefault("reference"),
                options.GetValueOrDefault("keep") == "true");
        }
    }

    public static IEnumerable<(string Metric, double Value, string Unit)> Run(IReadOnlyDictionary<string, string> options)
    {
        var o = ChaosOptions.Parse(options);
        var root = Directory.CreateTempSubdirectory("fusion-chaos-").FullName;
        Console.Error.WriteLine($"chaos: {o.Kind} store, {o.Kills} kills, work folder {root}");
        var clock = Stopwatch.StartNew();
        AzuriteProcess? azurite = null;
        var keep = o.Keep;
        try
        {
            var environment = new Dictionary<string, string> { ["HOME"] = Path.Combine(root, "home") }; // private blob work folders and cache
            string location;
            (azurite, location) = OpenStore(o.Kind, root, environment);
            var fusion = new Cli(root, environment);
            var reference = o.Reference ?? Path.Combine(root, "reference");
            if (o.Reference is null)
                fusion.Require(fusion.Run("reference", ["run", .. o.Args, "--store", reference]), "the uninterrupted reference run");

            var problems = new List<string>();
            var (killed, finished, gcRuns, besideRegistered) = Attempts(fusion, o, location, root, problems);
            FinalChecks(fusion, o.Args, location, problems);
            var (compared, differing) = CompareAsync(reference, location, environment, root, problems).GetAwaiter().GetResult();
            foreach (var p in problems) Console.Error.WriteLine("chaos: PROBLEM: " + p);
            Console.Error.WriteLine(problems.Count == 0 ? "chaos: clean" : $"chaos: {problems.Count} problems; logs in {root}");
            keep |= problems.Count > 0;
            return
            [
                ("kills (SIGKILL)", killed, "runs"),
                ("attempts that finished before their kill", finished, "runs"),
                ("gc runs", gcRuns, "runs"),
                ("gc runs beside the registered live run", besideRegistered, "runs"),
                ("artifacts compared with the uninterrupted run", compared, "artifacts"),
                ("artifacts that differ", differing, "artifacts"),
                ("problems (see stderr)", problems.Count, "problems"),
                ("wall time", clock.Elapsed.TotalMinutes, "min"),
            ];
        }
        catch
        {
            keep = true; // the logs say what went wrong
            throw;
        }
        finally
        {
            azurite?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            if (!keep) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The store under test: a local folder, or a container of a fresh Azurite (its connection string goes to <paramref name="environment"/>).</summary>
    private static (AzuriteProcess? Azurite, string Location) OpenStore(string kind, string root, Dictionary<string, string> environment)
    {
        if (kind != "azurite") return (null, Path.Combine(root, "store"));
        var azurite = AzuriteProcess.StartAsync(Path.Combine(root, "azurite")).GetAwaiter().GetResult();
        environment["AZURE_STORAGE_CONNECTION_STRING"] = azurite.ConnectionString;
        return (azurite, $"azure://{AzuriteProcess.Account}/chaos");
    }

    /// <summary>Runs killed at random moments, each with a gc beside it, until <see cref="ChaosOptions.Kills"/> kills landed.</summary>
    private static (int Killed, int Finished, int GcRuns, int GcBesideRegistered) Attempts(Cli fusion, ChaosOptions o, string location, string root, List<string> problems)
    {
        var noPlans = Directory.CreateDirectory(Path.Combine(root, "no-pipelines")).FullName;
        var (killed, finished, gcRuns, besideRegistered) = (0, 0, 0, 0);
        for (var attempt = 1; killed < o.Kills; attempt++)
        {
            if (attempt > o.Kills * 3) { problems.Add($"only {killed} of {o.Kills} kills landed: the run keeps finishing first"); break; }
            var run = fusion.Start($"attempt-{attempt:D2}", ["run", .. o.Args, "--store", location]);
            // gc at a random moment of the run; the kill at a random moment after it (which may be during training,
            // sampling or a commit: the log of each attempt says where it was).
            Thread.Sleep(TimeSpan.FromSeconds(1 + (o.Window - 1) * o.Random.NextDouble()));
            var gc = fusion.Run($"gc-{attempt:D2}", ["gc", "--grace-hours", "0", "--pipelines", noPlans, "--store", location]);
            gcRuns++;
            var liveDuringGc = !run.Process.HasExited;
            // A run protects its artifacts from its registration on, before it reads anything; gc lists it by its pid.
            var registered = liveDuringGc && gc.Output.Contains($"pid {run.Process.Id},", StringComparison.Ordinal);
            if (registered) besideRegistered++;
            if (gc.Code != 0 || (registered && !gc.Output.Contains(" in 0 artifacts", StringComparison.Ordinal)))
                problems.Add($"attempt {attempt}: gc beside the live run exited {gc.Code} or deleted artifacts (log {gc.Log})");
            Thread.Sleep(TimeSpan.FromSeconds(o.Window / 2 * o.Random.NextDouble()));
            if (!run.Process.HasExited)
            {
                run.Process.Kill(entireProcessTree: true);
                killed++;
            }
            var (code, output) = run.Finish();
            var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.Length > 0) ?? "";
            Console.Error.WriteLine($"chaos: attempt {attempt}: exit {code}{(code == 137 ? " (killed)" : "")}, gc {(!liveDuringGc ? "after the run ended" : registered ? "beside the live run" : "before the run registered")}; last line: {Trim(last)}");
            if (code == 0) finished++;
            else if (code != 137) problems.Add($"attempt {attempt}: the run failed by itself with exit {code} (log {run.Log})");
        }
        return (killed, finished, gcRuns, besideRegistered);
    }

    /// <summary>The run finished uninterrupted, verified, and nothing left for gc.</summary>
    private static void FinalChecks(Cli fusion, string[] args, string location, List<string> problems)
    {
        fusion.Require(fusion.Run("final", ["run", .. args, "--store", location]), "the final uninterrupted run");
        var verify = fusion.Run("verify", ["run", .. args, "--store", location, "--verify"]);
        if (verify.Code != 0) problems.Add($"run --verify failed with exit {verify.Code} (log {verify.Log})");
        var dry = fusion.Run("gc-dry-run", ["gc", "--dry-run", "--store", location]);
        if (dry.Code != 0 || !dry.Output.Contains("would free 0 B in 0 artifacts", StringComparison.Ordinal) || dry.Output.Contains("leftover", StringComparison.Ordinal))
            problems.Add($"gc --dry-run found something to delete (log {dry.Log})");
    }

    private static string Trim(string line) => line.Length > 120 ? line[..120] + "…" : line;

    /// <summary>Same fingerprints, and the same files (name, size, SHA-256) in each, timing stages aside.</summary>
    private static async Task<(int Compared, int Differing)> CompareAsync(string referenceFolder, string location, IReadOnlyDictionary<string, string> environment,
        string root, List<string> problems)
    {
        await using var reference = new LocalArtifactStore(referenceFolder);
        await using var chaos = location.StartsWith("azure://", StringComparison.Ordinal)
            ? await BlobArtifactStore.OpenAsync(location, BlobCredential.FromConnectionString(environment["AZURE_STORAGE_CONNECTION_STRING"]),
                new BlobStoreOptions { WorkDirectory = Path.Combine(root, "compare-work"), CacheDirectory = Path.Combine(root, "compare-cache") })
            : (IArtifactStore)new LocalArtifactStore(location);
        // The last run is the --verify one: a node whose bytes did not match its manifest would have run again.
        var verified = await new EngineDocuments(chaos).FindRunAsync(null);
        if (verified is null || verified.State != RunState.Succeeded || verified.Nodes.Any(n => n.State != NodeState.Cached))
            problems.Add($"run --verify did not find every node cached and intact: {string.Join(", ", verified?.Nodes.Where(n => n.State != NodeState.Cached).Select(n => $"{n.NodeId} {n.State}") ?? [])}");
        var (expected, actual) = (await ManifestsAsync(reference), await ManifestsAsync(chaos));
        foreach (var fp in expected.Keys.Except(actual.Keys)) problems.Add($"missing artifact {fp[..12]} ({expected[fp].Info.NodeId})");
        foreach (var fp in actual.Keys.Except(expected.Keys)) problems.Add($"extra artifact {fp[..12]} ({actual[fp].Info.NodeId})");
        var (compared, differing) = (0, 0);
        foreach (var (fp, want) in expected)
        {
            if (!actual.TryGetValue(fp, out var got) || TimingStages.Contains(want.Info.NodeId.Split('[')[0])) continue;
            compared++;
            if (want.Files.SequenceEqual(got.Files)) continue;
            differing++;
            var files = want.Files.Concat(got.Files).Except(want.Files.Intersect(got.Files)).Select(f => f.Name).Distinct();
            problems.Add($"artifact {fp[..12]} ({want.Info.NodeId}) differs from the uninterrupted run's: {string.Join(", ", files)}");
        }
        return (compared, differing);
    }

    private static async Task<Dictionary<string, Manifest>> ManifestsAsync(IArtifactStore store)
    {
        var all = new Dictionary<string, Manifest>(StringComparer.Ordinal);
        await foreach (var fp in store.ListArtifactsAsync())
            all[fp] = (await store.GetManifestAsync(fp)).Manifest ?? throw new InvalidDataException($"{store.Location}: artifact {fp} is broken");
        return all;
    }

    /// <summary>This `fusion` executable as child processes, each logged to logs/NAME.log.</summary>
    private sealed class Cli(string root, IReadOnlyDictionary<string, string> environment)
    {
        public sealed record Result(int Code, string Output, string Log);

        public sealed class Child(Process process, StringBuilder output, string log)
        {
            public Process Process => process;
            public string Log => log;

            public (int Code, string Output) Finish()
            {
                process.WaitForExit(); // also drains the output handlers
                string text;
                lock (output) text = output.ToString();
                File.WriteAllText(log, text);
                return (process.ExitCode, text);
            }
        }

        public Child Start(string name, IEnumerable<string> args)
        {
            var host = Environment.ProcessPath ?? "dotnet";
            var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            // Run as `dotnet fusion.dll`, or as the apphost itself.
            if (Path.GetFileNameWithoutExtension(host) == "dotnet") info.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
            foreach (var a in args) info.ArgumentList.Add(a);
            foreach (var (k, v) in environment) info.Environment[k] = v;
            var output = new StringBuilder();
            var process = Process.Start(info)!;
            DataReceivedEventHandler append = (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            process.OutputDataReceived += append;
            process.ErrorDataReceived += append;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            Directory.CreateDirectory(Path.Combine(root, "logs"));
            return new Child(process, output, Path.Combine(root, "logs", name + ".log"));
        }

        public Result Run(string name, IEnumerable<string> args)
        {
            var child = Start(name, args);
            var (code, output) = child.Finish();
            return new Result(code, output, child.Log);
        }

        public void Require(Result result, string what)
        {
            if (result.Code != 0) throw new InvalidOperationException($"{what} failed with exit {result.Code}; log {result.Log}");
        }
    }
}

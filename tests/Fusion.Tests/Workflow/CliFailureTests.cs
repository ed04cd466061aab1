using System.Diagnostics;
using Fusion.Artifacts.Store.Local;
using Fusion.Models;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;

namespace Fusion.Tests.Workflow;

/// <summary>
/// Fault injection through the real `fusion` command line (a child process): expected failures print what failed and
/// what to do, without a stack trace, and exit with their documented code (2 input, 3 store, 1 stage failure).
/// </summary>
public sealed class CliFailureTests : IDisposable
{
    private const string Chain = "stages:\n  a: {kind: constant, params: {text: abc}}\n  b: {kind: transform, inputs: {source: a}}\n";
    private static readonly string Plugin = typeof(ConstantStage).Assembly.Location;
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private readonly TempDir dir = new();

    private string Store => dir["store"];

    private string Write(string name, string text)
    {
        File.WriteAllText(dir[name], text);
        return dir[name];
    }

    private Task<(int Code, string Output)> Fusion(params string[] args)
    {
        string[] device = args.Contains("--device") ? [] : ["--device", "cpu"];
        string[] engine = args[0] is "run" or "plan" ? ["--plugin", Plugin, .. device] : [];
        return FusionCli.RunAsync(args.Concat(engine), Timeout, dir.Path);
    }

    /// <summary>An expected failure: its exit code, an "error:" line, and no stack trace.</summary>
    private static void AssertFailure(int code, (int Code, string Output) result, params string[] texts)
    {
        Assert.True(result.Code == code, $"exit {result.Code}, expected {code}:\n{result.Output}");
        Assert.Contains("error: ", result.Output);
        Assert.DoesNotContain("Unhandled", result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        foreach (var text in texts) Assert.Contains(text, result.Output);
    }

    private void AssertNothingRan() =>
        Assert.False(Directory.Exists(Path.Combine(Store, "artifacts")) && Directory.EnumerateFileSystemEntries(Path.Combine(Store, "artifacts")).Any());

    [Fact]
    public async Task A_malformed_yaml_exits_2_with_file_line_and_column_and_shows_the_stack_only_with_v()
    {
        var file = Write("m.yaml", "stages:\n  data:\n    kind: constant\n    params: {repeat: 4\n  clip: [\n");
        AssertFailure(2, await Fusion("plan", file, "--store", Store), "m.yaml:5:3: malformed YAML");
        var verbose = await Fusion("plan", file, "--store", Store, "-v");
        Assert.Equal(2, verbose.Code);
        Assert.Contains("   at ", verbose.Output);
    }

    public static TheoryData<string, string, string> InputErrors => new()
    {
        { "stages:\n  a: {kind: nope}\n", "", "p.yaml:2:13: stages.a.kind: unknown stage kind 'nope'" },
        { "stages:\n  a: {kind: constant, params: {repeet: 2}}\n", "", "p.yaml:2:32: stages.a.params.repeet: kind 'constant' has no param 'repeet'" },
        { "stages:\n  a: {kind: constant, params: {repeat: -1}}\n", "", "p.yaml:2:32: stages.a.params.repeat: param 'repeat' of kind 'constant': must be ≥ 0, got -1" },
        { Chain, "-p a.repeat=-1", "-p a.repeat: param 'repeat' of kind 'constant': must be ≥ 0, got -1" },
        { Chain, "--only nope", "no node or stage 'nope'" },
        { Chain, "--jobs 0", "--jobs must be ≥ 1, got 0" },
        { Chain, "--devices cuda:0", "--devices: 'cuda:0' is not a cpu device" },
        { Chain, "--jobs 2 --devices cpu,gpu", "--devices: 'gpu' is not a device" },
        { "stages:\n  a: {kind: transform, inputs: {source: b}}\n  b: {kind: transform, inputs: {source: a}}\n", "", "cycle: a → b → a" },
        { "stages:\n  a: {kind: constant}\n  a: {kind: constant}\n", "", "p.yaml:3:3" },
        { "extends: gone.yaml\n", "", "p.yaml:1:10: extends: pipeline file 'gone.yaml' does not exist" },
        { Chain, "--max-seeds 3", "--max-seeds and --budget belong to --until-decided" },
        { Chain, "--until-decided --budget soon", "'soon' is not a duration" },
        { Chain, "--until-decided --only a", "--until-decided runs the whole pipeline at each look" },
        { Chain, "--until-decided", "declares no seeds: adding seeds needs a training stage" },
        { Chain, "--jobs abc", "--jobs: 'abc' is not a whole number" },
        { Chain, "--max-seeds 2.5", "--max-seeds: '2.5' is not a whole number" },
        { Chain, "--device tpu", "--device must be cpu, cuda, cuda:N or auto, got 'tpu'" },
        { Chain, "--device cuda:x", "--device must be cpu, cuda, cuda:N or auto, got 'cuda:x'" },
        { Chain, "--dtype bf16", "--dtype must be float32, bfloat16, float16, float64 or auto, got 'bf16'" },
        { Chain, "--bogus", "'--bogus'" },
        { Chain, "--verfy", "--verfy: did you mean --verify?" },
    };

    [Theory]
    [MemberData(nameof(InputErrors))]
    public async Task Bad_input_exits_2_naming_where_and_runs_nothing(string yaml, string options, string message)
    {
        var file = Write("p.yaml", yaml);
        AssertFailure(2, await Fusion(["run", file, "--store", Store, .. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]), message);
        AssertNothingRan();
    }

    [Fact]
    public async Task Cuda_on_a_machine_or_build_without_it_exits_2_saying_how_to_get_it()
    {
        if (TorchEnvironment.CudaAvailable) return;   // nothing to refuse here
        // The CPU build says how to build with CUDA; a CUDA build that finds no GPU says to look at the driver.
        var what = TorchEnvironment.LibTorchHasCuda ? "nvidia-smi" : "-p:TorchBackend=cuda";
        AssertFailure(2, await Fusion("run", Write("p.yaml", Chain), "--store", Store, "--device", "cuda"), "device 'cuda'", what);
        AssertNothingRan();
    }

    [Theory]
    [InlineData("-p train.variant=nonsense", "-p train.variant: param 'variant' of kind 'train': expected one of early-concat, early-cross, intermediate-concat, intermediate-cross, got 'nonsense'")]
    [InlineData("-p train[early-cross].variant=early-crossed", "expected one of early-concat, early-cross, intermediate-concat, intermediate-cross, got 'early-crossed'")]
    public async Task A_fusion_variant_outside_the_four_stops_the_pipeline_at_load(string options, string message)
    {
        AssertFailure(2, await Fusion(["run", "shapes", "--store", Store, .. options.Split(' ')]), message);
        AssertNothingRan();
    }

    [Fact]
    public async Task A_coco_split_other_than_train_or_val_stops_the_pipeline_at_load()
    {
        AssertFailure(2, await Fusion("plan", "coco-mini", "--store", Store, "-p", "fid-reference.split=test"), "fid-reference.split", "expected one of train, val, got 'test'");
        AssertFailure(2, await Fusion("plan", "coco-mini", "--store", Store, "-p", "latents.splits=[train,dev]"), "latents.splits", "got 'dev'");
    }

    [Theory]
    [InlineData("worker --run-idd x", "'--run-idd', 'x'")]
    [InlineData("submit --bogus", "'--bogus'")]
    [InlineData("submit --run-idd r1", "did you mean --run-id?")]
    [InlineData("submit --Logging:LogLevel:Default=Debug", "'--Logging:LogLevel:Default=Debug'")]
    [InlineData("status --bogus", "'--bogus'")]
    [InlineData("status --lst 3", "--lst: did you mean --last?")]
    [InlineData("report --bogus", "'--bogus'")]
    [InlineData("status --last abc", "--last: 'abc' is not a whole number")]
    [InlineData("gc --grace-hours x", "--grace-hours: 'x' is not a number")]
    [InlineData("submit --timeout-hours 1e999", "--timeout-hours: '1e999' is not a number")]
    public async Task Unknown_options_and_values_that_are_not_numbers_exit_2_naming_them_in_every_verb(string command, string message) =>
        AssertFailure(2, await Fusion([.. command.Split(' '), "--store", Store]), message, "see: fusion ");

    [Theory]
    [InlineData("submit p.yaml", "--Worker:Distributed:TaskHub=no")]
    [InlineData("submit", "--Worker:Distributed:TaskHub=no")]   // not taken for the pipeline argument
    [InlineData("worker", "--distributed --Worker:Distributed:TaskHub=no --Logging:LogLevel:Default=Warning")]
    [InlineData("worker", "--distributed --Worker:Distributed:TaskHub no")]
    public async Task Configuration_settings_still_reach_the_worker_configuration(string command, string options)
    {
        var settings = options.Split(' ');
        var verb = command.Split(' ')[0];
        string[] pipeline = command.EndsWith("p.yaml", StringComparison.Ordinal) ? [Write("p.yaml", Chain)] : [];
        // The hub name is checked before anything connects: that it is named proves the setting arrived.
        AssertFailure(2, await Fusion([verb, .. pipeline, "--store", Store, "--plugin", Plugin, "--device", "cpu", .. settings]), "Worker:Distributed:TaskHub 'no'");
    }

    [Theory]
    [InlineData("submit p.yaml")]
    [InlineData("worker --distributed")]
    public async Task An_unreachable_task_hub_exits_3_within_seconds_naming_the_endpoint(string command)
    {
        // A loopback port that was just free refuses connections.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var endpoint = $"http://127.0.0.1:{port}/devstoreaccount1";
        var connection = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Convert.ToBase64String(new byte[64])};" +
                         $"BlobEndpoint={endpoint};QueueEndpoint={endpoint};TableEndpoint={endpoint};";
        var words = command.Split(' ');
        string[] pipeline = words.Contains("p.yaml") ? [Write("p.yaml", Chain)] : [];
        var clock = Stopwatch.StartNew();
        var result = await Fusion([words[0], .. pipeline, .. words.Skip(1).Where(w => w != "p.yaml"), "--store", Store, "--plugin", Plugin, "--device", "cpu",
            $"--Worker:Distributed:ConnectionString={connection}"]);
        AssertFailure(3, result, $"task hub 'fusion' could not be reached at {endpoint}", "Connection refused", "Worker:Distributed:ConnectionString");
        Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
        Assert.DoesNotContain("AggregateException", result.Output);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"{command} took {clock.Elapsed}");
    }

    [Fact]
    public async Task Report_of_an_unknown_run_or_a_run_without_a_report_exits_2_on_stderr()
    {
        AssertFailure(2, await Fusion("report", "--store", Store), "has a report yet", "fusion run");
        AssertFailure(2, await Fusion("report", "nope", "--store", Store), "error: no run 'nope' in ");
        Assert.Equal(0, (await Fusion("run", Write("p.yaml", Chain), "--store", Store)).Code);
        var runId = (await new EngineDocuments(new LocalArtifactStore(Store)).FindRunIdAsync(null))!;
        AssertFailure(2, await Fusion("report", runId, "--store", Store), $"run '{runId}' has no report", $"fusion status {runId}");
    }

    [Fact]
    public async Task A_store_that_cannot_be_written_exits_3_with_what_to_do()
    {
        // sysfs refuses new folders to every user, root included (a chmod'ed folder would not stop root).
        var readOnly = "/sys/fusion-test-store-" + Guid.NewGuid().ToString("N")[..8];
        AssertFailure(3, await Fusion("run", Write("p.yaml", Chain), "--store", readOnly), readOnly, "must be writable");
        AssertFailure(3, await Fusion("status", "--store", readOnly), readOnly);
    }

    [Fact]
    public async Task A_store_path_that_is_a_file_exits_3_saying_it_is_a_file_not_a_folder()
    {
        var file = Write("store.txt", "not a store");
        var pipeline = Write("p.yaml", Chain);
        foreach (var store in new[] { file, Path.Combine(file, "inner") })
        {
            var result = await Fusion("run", pipeline, "--store", store);
            AssertFailure(3, result, $"{file} is a file, not a folder", "give --store");
            Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
        }
        AssertFailure(3, await Fusion("status", "--store", file), "is a file, not a folder");
    }

    [ReadOnlyMountFact]
    public async Task A_used_store_on_a_read_only_file_system_ends_run_and_gc_at_once_with_exit_3()
    {
        var pipeline = Write("p.yaml", Chain);
        Assert.Equal(0, (await Fusion("run", pipeline, "--store", Store)).Code); // now its lock files exist
        string[][] commands = [["run", pipeline, "--store", Store, "--plugin", Plugin, "--device", "cpu"], ["gc", "--store", Store], ["gc", "--dry-run", "--store", Store]];
        foreach (var command in commands)
        {
            var clock = Stopwatch.StartNew();
            // A regression waits for the lock for ever: the timeout turns that into a failure.
            var result = await FusionCli.RunAsync(command, TimeSpan.FromSeconds(45), dir.Path, wrapper: ReadOnlyMount.Wrapper(Store));
            AssertFailure(3, result, $"artifact store {Store}", "Read-only file system", "must be writable");
            Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"{command[0]} took {clock.Elapsed}");
        }
    }

    [SmallDiskFact]
    public async Task A_stage_that_fills_the_disk_exits_3_with_one_line_and_the_disk_full_hint()
    {
        var pipeline = Write("p.yaml", $"stages:\n  big: {{kind: fill, params: {{bytes: {(SmallDisk.Megabytes + 1) << 20}}}}}\n  small: {{kind: constant}}\n");
        Directory.CreateDirectory(Store);
        string[] command = ["run", pipeline, "--store", Store, "--plugin", Plugin, "--device", "cpu"];
        var result = await FusionCli.RunAsync(command, Timeout, dir.Path, wrapper: SmallDisk.Wrapper(Store));
        AssertFailure(3, result, "node big failed: ", "No space left on device", "the disk is full");
        Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Single(result.Output.Split('\n'), line => line.Contains("the disk is full", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_stage_exits_1_the_run_table_names_the_node_and_its_error_and_its_stack_shows_only_with_v()
    {
        var pipeline = Write("p.yaml", "stages:\n  f: {kind: fail, params: {message: kaboom}}\n");
        var result = await Fusion("run", pipeline, "--store", Store);
        Assert.True(result.Code == 1, result.Output);
        Assert.Matches(@"\n\s*f\s+failed\s+[0-9a-f]{12}\s+\S+\s+.*InvalidOperationException: kaboom", result.Output);
        Assert.DoesNotContain("Unhandled", result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        var verbose = await Fusion("run", pipeline, "--store", Store, "-v");
        Assert.True(verbose.Code == 1, verbose.Output);
        Assert.Contains("   at ", verbose.Output);
    }

    [Fact]
    public async Task A_forced_node_whose_input_table_was_damaged_recomputes_it_first_and_sums_good_bytes()
    {
        var pipeline = Write("p.yaml", "stages:\n  t: {kind: table}\n  s: {kind: table-sum, inputs: {source: t}}\n");
        Assert.Equal(0, (await Fusion("run", pipeline, "--store", Store)).Code);
        var table = Assert.Single(Directory.EnumerateFiles(Path.Combine(Store, "artifacts"), "metrics.parquet", SearchOption.AllDirectories));
        // Same size, so only a hash notices: the middle of the data pages becomes noise.
        File.SetAttributes(table, FileAttributes.Normal);
        TableStage.Garble(table);

        var result = await Fusion("run", pipeline, "--store", Store, "--force", "s");
        Assert.True(result.Code == 0, result.Output);
        Assert.Matches(@"\n\s*t\s+ran\s", result.Output);
        Assert.Matches(@"\n\s*s\s+ran\s", result.Output);
        Assert.Matches(@"run\s+t [0-9a-f]{12} — its committed file 'metrics.parquet' is damaged \(found reading it for s\)", result.Output);
        Assert.Contains("metrics.parquet", result.Output.Split('\n').Single(l => l.Contains("warn") && l.Contains("damaged input")));
        // Rows 0..1999 of value i/2.
        var sum = Assert.Single(Directory.EnumerateFiles(Path.Combine(Store, "artifacts"), "sum.txt", SearchOption.AllDirectories));
        Assert.Equal("999500", File.ReadAllText(sum));
    }

    [Fact]
    public async Task A_table_committed_damaged_exits_3_naming_the_node_and_file_and_suggesting_force()
    {
        var pipeline = Write("p.yaml", "stages:\n  t: {kind: table, params: {damaged: true}}\n  s: {kind: table-sum, inputs: {source: t}}\n");
        var result = await Fusion("run", pipeline, "--store", Store);
        var table = Assert.Single(Directory.EnumerateFiles(Path.Combine(Store, "artifacts"), "metrics.parquet", SearchOption.AllDirectories));
        AssertFailure(3, result, "node s failed: output of node 't': ", table, "damaged Parquet file", "fusion run --force t");
        Assert.Single(result.Output.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Matches(@"\n\s*s\s+failed\s+.*output of node 't'", result.Output);
    }

    [Fact]
    public async Task Damaged_documents_are_named_and_left_alone_while_run_and_status_go_on()
    {
        var pipeline = Write("p.yaml", Chain);
        Assert.Equal(0, (await Fusion("run", pipeline, "--store", Store)).Code);
        var store = new LocalArtifactStore(Store);
        var runId = (await new EngineDocuments(store).FindRunIdAsync(null))!;
        var index = store.DescribeDocument(EngineDocuments.IndexPath("p", "b"));
        var ledger = store.DescribeDocument(EngineDocuments.RunPath(runId));
        File.WriteAllBytes(index, [0, .. "garbage"u8]);
        File.WriteAllBytes(ledger, [0, .. "garbage"u8]);

        var run = await Fusion("run", pipeline, "--store", Store);
        Assert.True(run.Code == 0, run.Output);
        Assert.Single(run.Output.Split('\n'), line => line.Contains(index) && line.Contains("unreadable"));
        Assert.Contains("cached", run.Output);

        var status = await Fusion("status", "--store", Store);
        Assert.True(status.Code == 0, status.Output);
        Assert.Matches($@"{runId}\s+\?\s+unreadable", status.Output);
        Assert.Contains(ledger, status.Output);
        Assert.Contains("succeeded", status.Output);   // the second run

        AssertFailure(3, await Fusion("status", runId, "--store", Store), ledger, "is unreadable");
        AssertFailure(3, await Fusion("pin", runId, "--store", Store), ledger);
        Assert.Equal([0, .. "garbage"u8], File.ReadAllBytes(ledger));
    }

    [Fact]
    public async Task Flipped_artifact_bytes_are_found_by_run_verify_and_recomputed_with_the_nodes_built_from_them()
    {
        var pipeline = Write("p.yaml", Chain);
        Assert.Equal(0, (await Fusion("run", pipeline, "--store", Store)).Code);
        var file = Directory.GetFiles(Path.Combine(Store, "artifacts"), "out.txt", SearchOption.AllDirectories).First(f => File.ReadAllText(f) == "abc");
        File.SetAttributes(file, FileAttributes.Normal);
        File.WriteAllText(file, "abd");   // same size: only hashing sees it

        var verified = await Fusion("run", pipeline, "--store", Store, "--verify");
        Assert.True(verified.Code == 0, verified.Output);
        Assert.Matches(@"\n\s*a\s+ran\s", verified.Output);
        // b's files match its own manifest, but it may have been built from the damaged bytes.
        Assert.Matches(@"\n\s*b\s+ran\s", verified.Output);
        Assert.Matches(@"run\s+b [0-9a-f]{12}.* — upstream a was recomputed for a broken output", verified.Output);
        Assert.Equal("abc", File.ReadAllText(file));
        var again = await Fusion("run", pipeline, "--store", Store, "--verify");
        Assert.Matches(@"\n\s*a\s+cached\s", again.Output);
        Assert.Matches(@"\n\s*b\s+cached\s", again.Output);
    }

    public void Dispose() => dir.Dispose();
}

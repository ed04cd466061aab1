using System.Buffers.Binary;
using System.Text;
using Fusion.Artifacts.Store.Local;
using Fusion.Artifacts.Tables;
using Fusion.Cli;
using Fusion.Models;
using Fusion.Models.Diffusion;
using Fusion.Reproduction.Stages;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Reproduction;

/// <summary>
/// Training's TensorBoard curves, read back with <see cref="EventFile"/> (its own CRC, TensorBoard's parser): live
/// in scratch while the node trains, rewritten without repeated steps when it resumes from an older checkpoint, and
/// committed with the loss log's steps and values. In the shapes collection: it trains from libtorch's seeded generator.
/// </summary>
[Collection(nameof(ShapesPipelineTests))]
public sealed class TrainCurvesTests : IDisposable
{
    private const string Node = "train[early-concat]";
    private static readonly string[] LiveTags = ["loss", "grad_norm", "learning_rate", "samples_per_second"];
    private readonly TempDir _dir = new();

    [Fact]
    public async Task Training_writes_live_curves_rewrites_them_on_resume_and_commits_the_loss_log_as_an_event_file()
    {
        var registry = new StageRegistry().AddAssembly(typeof(TrainStage).Assembly).AddAssembly(typeof(Fusion.Datasets.Shapes.ShapesDataset).Assembly);
        var pipeline = PipelineLoader.Load(Path.Combine(Fixtures.RepoRoot, "pipelines", "shapes.yaml"), registry, "tiny",
            ["train.steps=12", "train.log_every=2", "train.save_every=4"]);
        var facts = new TorchFacts("cpu", "float32");
        var fingerprint = Fingerprinter.Compute(pipeline, registry, facts.GetFacts())[Node].Fingerprint;
        await using var store = new LocalArtifactStore(_dir["store"]);
        var scratch = await store.GetScratchDirectoryAsync(fingerprint);
        var liveFolder = Path.Combine(scratch, TrainStage.CurvesFolder, Node);
        var options = new RunOptions { Until = [Node] };

        // 1. Stopped (as by Ctrl-C) once step 6 is logged: the live file holds steps 2, 4, 6 of all four scalars.
        using var stop = new CancellationTokenSource();
        var first = await new Executor(store, registry, facts, NullLoggerFactory.Instance, new AtTrainStep(6, _ => stop.Cancel())).RunAsync(pipeline, options, stop.Token);
        Assert.Equal(RunState.Interrupted, first.State);
        var live = EventFile.Read(Assert.Single(Directory.GetFiles(liveFolder)));
        Assert.Equal("brain.Event:2", live[0].FileVersion);
        foreach (var tag in LiveTags) Assert.Equal([2L, 4, 6], EventFile.Steps(live, tag));
        Assert.All(EventFile.Series(live, "samples_per_second"), v => Assert.True(v.Value > 0, $"samples/s {v.Value}"));
        Assert.All(live.Skip(1), e => Assert.InRange(e.WallTime, DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1));

        // 2. Only the step-4 checkpoint survives (as after a kill between checkpoints): steps 5 and 6 are trained again.
        var checkpoints = Path.Combine(scratch, "ckpt");
        Assert.True(Directory.Exists(Path.Combine(checkpoints, Checkpoints.FolderName(4))), string.Join(", ", Directory.GetDirectories(checkpoints)));
        foreach (var (step, path) in Checkpoints.List(checkpoints)) if (step > 4) Directory.Delete(path, recursive: true);
        var seen = new Dictionary<long, (int Files, long[] Steps)>();
        void Look(long step)
        {
            var files = Directory.GetFiles(liveFolder);
            seen[step] = (files.Length, EventFile.Steps(EventFile.Read(files[0]), "loss"));
        }
        var second = await new Executor(store, registry, facts, NullLoggerFactory.Instance, new AtTrainStep(4, Look, 8)).RunAsync(pipeline, options);
        Assert.Equal(RunState.Succeeded, second.State);
        // Rewritten up to the checkpoint before training goes on; then each step once, in order, in the one file.
        Assert.Equal((1, "2,4"), (seen[4].Files, string.Join(",", seen[4].Steps)));
        Assert.Equal((1, "2,4,6,8"), (seen[8].Files, string.Join(",", seen[8].Steps)));

        // 3. The artifact's event file is the loss log: the same steps and values (float32), no wall clock, no throughput.
        var manifest = (await store.GetManifestAsync(fingerprint)).Manifest!;
        var committed = EventFile.Read(await store.GetLocalPathAsync(manifest, TrainStage.CurvesFile));
        var log = await RecordsTable.ReadAllAsync<LossRecord>(await store.GetLocalPathAsync(manifest, "loss.parquet"));
        Assert.Equal([2L, 4, 6, 8, 10, 12], log.Select(r => r.Step));
        Assert.Equal("brain.Event:2", committed[0].FileVersion);
        Assert.All(committed, e => Assert.Equal(0, e.WallTime));
        Assert.Equal(log.Count, committed.Count - 1);
        foreach (var (e, r) in committed.Skip(1).Zip(log))
        {
            Assert.Equal(r.Step, e.Step);
            Assert.Equal([("loss", (float)r.Loss), ("grad_norm", (float)r.GradNorm), ("learning_rate", (float)r.LearningRate)], e.Values);
        }
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Calls <paramref name="act"/> when the training node reports one of <paramref name="steps"/> (on its training thread).</summary>
    private sealed class AtTrainStep(long step, Action<long> act, params long[] more) : IRunObserver
    {
        public void NodeProgress(PlannedNode node, long current, long total, string unit)
        {
            if (node.Id == Node && (current == step || more.Contains(current))) act(current);
        }
    }
}

/// <summary>
/// TorchSharp 0.107's SummaryWriter writes valid records (checked here with the independent reader), but its first record
/// carries the time it was created — in DateTime ticks, not Unix seconds — and its file name the time, host and process,
/// even when every scalar gets walltime 0 (and wall times are whole seconds): its files cannot be part of a
/// byte-reproducible artifact, so training writes its event files itself.
/// </summary>
public sealed class SummaryWriterFormatTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public void TorchSharps_SummaryWriter_writes_valid_records_stamped_with_when_and_where_it_ran()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var writer = TorchSharp.torch.utils.tensorboard.SummaryWriter(_dir["runs"]);
        writer.add_scalar("loss", 0.25f, 3, walltime: 0);
        writer.add_scalar("loss", 0.125f, 1_000_000, walltime: 1234);
        var file = Assert.Single(Directory.GetFiles(_dir["runs"]));
        var events = EventFile.Read(file);   // CRCs checked
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        // The file-version record is stamped in DateTime ticks (100 ns since year 1, local time), not Unix seconds.
        Assert.InRange(events[0].WallTime, (double)new DateTime(before * TimeSpan.TicksPerSecond + DateTime.UnixEpoch.Ticks).AddDays(-1).Ticks, DateTime.Now.AddDays(1).Ticks);
        Assert.Contains(Environment.MachineName, Path.GetFileName(file));
        Assert.Equal([(0.0, 3L, ("loss", 0.25f)), (1234.0, 1_000_000L, ("loss", 0.125f))], events.Skip(1).Select(e => (e.WallTime, e.Step, Assert.Single(e.Values))));
    }

    [Fact]
    public void The_test_reader_and_the_writer_compute_CRC32C_by_the_book()
    {
        Assert.Equal(0xE3069283u, EventFile.Crc32C(Encoding.ASCII.GetBytes("123456789")));   // the CRC-32C check value
        Assert.Equal(0xE3069283u, TensorBoardEventWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        var random = new Random(7);
        foreach (var length in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 100, 1000 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(EventFile.Crc32C(data), TensorBoardEventWriter.Crc32C(data));   // 8-byte steps and the tail
        }
    }

    [Fact]
    public void A_committed_scalar_record_keeps_its_zero_wall_time_as_field_one()
    {
        var path = _dir["w/events.out.tfevents.test"];
        using (var writer = new TensorBoardEventWriter(path, 0)) writer.Scalars(3, 0, [("loss", 0.25f)]);
        var bytes = File.ReadAllBytes(path);
        var first = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        var at = 12 + first + 4;
        var length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)));
        // Event{wall_time=0 (field 1, fixed64), step=3 (field 2), summary (field 5){value{tag "loss", simple_value 0.25}}}
        byte[] expected = [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x03, 0x2a, 0x0d, 0x0a, 0x0b, 0x0a, 0x04, (byte)'l', (byte)'o', (byte)'s', (byte)'s',
            0x15, 0x00, 0x00, 0x80, 0x3e];
        Assert.Equal(expected, bytes.AsSpan(at + 12, length).ToArray());
        Assert.Equal(0, EventFile.Read(path)[1].WallTime);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// A TensorBoard event file read by the specification: TFRecord records (uint64 length, masked CRC-32C of the length
/// bytes, data, masked CRC-32C of the data; both checked with a bit-by-bit CRC of its own) of Event protobufs parsed
/// by TensorBoard's protobuf classes, holding only a file_version or a summary of simple_values.
/// </summary>
public static class EventFile
{
    public sealed record Event(double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Values);

    public static List<Event> Read(string path)
    {
        byte[] bytes;
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)) { bytes = new byte[s.Length]; s.ReadExactly(bytes); }
        var events = new List<Event>();
        var at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 12, $"{path}: truncated header at byte {at}");
            var length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)));
            Assert.True(Masked(bytes.AsSpan(at, 8)) == BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)), $"{path}: bad length CRC at byte {at}");
            Assert.True(bytes.Length - at - 12 >= length + 4, $"{path}: truncated record at byte {at}");
            var data = bytes.AsSpan(at + 12, length);
            Assert.True(Masked(data) == BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + length)), $"{path}: bad data CRC at byte {at}");
            events.Add(Decode(data.ToArray()));
            at += 12 + length + 4;
        }
        return events;
    }

    public static long[] Steps(List<Event> events, string tag) => [.. Series(events, tag).Select(v => v.Step)];

    public static IEnumerable<(long Step, float Value)> Series(List<Event> events, string tag) =>
        events.SelectMany(e => e.Values.Where(v => v.Tag == tag).Select(v => (e.Step, v.Value)));

    private static Event Decode(byte[] data)
    {
        var e = Tensorboard.Event.Parser.ParseFrom(data);
        var values = new List<(string, float)>();
        switch (e.WhatCase)
        {
            case Tensorboard.Event.WhatOneofCase.FileVersion: break;
            case Tensorboard.Event.WhatOneofCase.Summary:
                foreach (var v in e.Summary.Value)
                {
                    Assert.True(v.ValueCase == Tensorboard.Summary.Types.Value.ValueOneofCase.SimpleValue, $"unexpected Summary.Value content {v.ValueCase}");
                    values.Add((v.Tag, v.SimpleValue));
                }
                break;
            default: throw new Xunit.Sdk.XunitException($"unexpected Event content {e.WhatCase}");
        }
        return new Event(e.WallTime, e.Step, e.WhatCase == Tensorboard.Event.WhatOneofCase.FileVersion ? e.FileVersion : null, values);
    }

    private static uint Masked(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    /// <summary>Bit by bit, reflected Castagnoli polynomial.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }
}

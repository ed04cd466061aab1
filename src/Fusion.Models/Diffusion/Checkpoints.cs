using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Models.Diffusion;

/// <summary>
/// Layout of training checkpoints. A checkpoint is a folder <c>{root}/{step}.ckpt/</c> (the reference's naming) holding
/// <c>model.safetensors</c> (float32 master weights), <c>ema.safetensors</c>, <c>optimizer.safetensors</c> (AdamW moments
/// "param.exp_avg" / "param.exp_avg_sq") and <c>state.json</c> (<see cref="CheckpointState"/>, written last, with the
/// SHA-256 of the other three). Folders are written under a temporary name and renamed into place, so a folder with the
/// final name is complete; <see cref="Verify"/> catches what happened to it afterwards (truncation, flipped bits).
/// </summary>
public static class Checkpoints
{
    public const string ModelFile = "model.safetensors";
    public const string EmaFile = "ema.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "state.json";
    public const string Format = "fusion.diffusion.checkpoint/2";

    /// <summary>The tensor files of a checkpoint, each recorded with its SHA-256 in the state.</summary>
    public static readonly string[] TensorFiles = [ModelFile, EmaFile, OptimizerFile];

    public static string FolderName(long step) => $"{step}.ckpt";

    /// <summary>Complete checkpoints under <paramref name="root"/>, oldest first.</summary>
    public static IReadOnlyList<(long Step, string Path)> List(string root)
    {
        if (!Directory.Exists(root)) return [];
        return Directory.EnumerateDirectories(root)
            .Select(d => (Name: System.IO.Path.GetFileName(d), Path: d))
            .Where(d => d.Name.EndsWith(".ckpt", StringComparison.Ordinal) && long.TryParse(d.Name[..^5], out _) && File.Exists(System.IO.Path.Combine(d.Path, StateFile)))
            .Select(d => (long.Parse(d.Name[..^5]), d.Path))
            .OrderBy(d => d.Item1).ToList();
    }

    /// <summary>The newest complete checkpoint folder, or null.</summary>
    public static string? Latest(string root) => List(root) is { Count: > 0 } l ? l[^1].Path : null;

    /// <summary>Writes a folder through <paramref name="write"/> (given a temporary folder) and renames it to <paramref name="folder"/>.</summary>
    public static void WriteAtomically(string folder, Action<string> write)
    {
        folder = System.IO.Path.GetFullPath(folder);
        var parent = System.IO.Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(parent);
        var name = System.IO.Path.GetFileName(folder);
        var tmp = System.IO.Path.Combine(parent, $".{name}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            write(tmp);
            if (Directory.Exists(folder))
            {
                var old = System.IO.Path.Combine(parent, $".{name}.old-{Guid.NewGuid():N}");
                Directory.Move(folder, old);
                Directory.Move(tmp, folder);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(tmp, folder);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static CheckpointState ReadState(string folder)
    {
        var path = System.IO.Path.Combine(folder, StateFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"not a checkpoint folder (no {StateFile}): {folder}", path);
        CheckpointState? state;
        try { state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a readable checkpoint state ({e.Message})", e); }
        if (state is null) throw new InvalidDataException($"{path}: empty checkpoint state");
        if (state.Format != Format) throw new InvalidDataException($"{path}: format '{state.Format}', expected '{Format}'");
        return state;
    }

    /// <summary>SHA-256 (lower-case hex) of each tensor file in <paramref name="folder"/>.</summary>
    public static SortedDictionary<string, string> Hash(string folder) =>
        new(TensorFiles.ToDictionary(f => f, f => Sha256(System.IO.Path.Combine(folder, f))), StringComparer.Ordinal);

    /// <summary>Reads the state and checks every tensor file against its recorded SHA-256; throws naming the bad file.</summary>
    public static CheckpointState Verify(string folder)
    {
        var state = ReadState(folder);
        foreach (var file in TensorFiles)
        {
            var path = System.IO.Path.Combine(folder, file);
            if (!state.Files.TryGetValue(file, out var expected)) throw new InvalidDataException($"{System.IO.Path.Combine(folder, StateFile)}: no hash recorded for {file}");
            if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing");
            var actual = Sha256(path);
            if (actual != expected) throw new InvalidDataException($"{path}: SHA-256 {actual[..12]}… does not match the recorded {expected[..12]}… (truncated or altered)");
        }
        return state;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }
}

/// <summary>
/// The JSON part of a checkpoint: everything but the tensors. <see cref="GeneratorState"/> is the base64 of the trainer's
/// torch.Generator state (get_state); <see cref="DataPosition"/> is the batch source's <see cref="IBatchSource.GetPosition"/>;
/// <see cref="PendingLossSum"/> and <see cref="PendingSteps"/> are the running loss mean since the last log entry, so a
/// resumed run logs the same curve as an uninterrupted one; <see cref="Files"/> maps each tensor file to its SHA-256.
/// </summary>
public sealed record CheckpointState(
    string Format,
    long Step,
    long OptimizerSteps,
    TrainConfig Config,
    string GeneratorState,
    string DataPosition,
    double PendingLossSum,
    int PendingSteps,
    IReadOnlyDictionary<string, string> Files,
    DateTime CreatedUtc);

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fusion.Models.Diffusion;

/// <summary>
/// Layout of training checkpoints. A checkpoint is a folder <c>{root}/{step}.ckpt/</c> (the reference's naming) holding
/// <c>model.safetensors</c> (float32 master weights), <c>ema.safetensors</c>, <c>optimizer.safetensors</c> (AdamW moments
/// "param.exp_avg" / "param.exp_avg_sq") and <c>state.json</c> (<see cref="CheckpointState"/>). Folders are written under
/// a temporary name and renamed into place, so a folder with the final name is always complete.
/// </summary>
public static class Checkpoints
{
    public const string ModelFile = "model.safetensors";
    public const string EmaFile = "ema.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "state.json";
    public const string Format = "fusion.diffusion.checkpoint/1";

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

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static CheckpointState ReadState(string folder)
    {
        var path = System.IO.Path.Combine(folder, StateFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"not a checkpoint folder (no {StateFile}): {folder}", path);
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), Json)
                    ?? throw new InvalidDataException($"{path}: empty checkpoint state");
        if (state.Format != Format) throw new InvalidDataException($"{path}: format '{state.Format}', expected '{Format}'");
        return state;
    }
}

/// <summary>
/// The JSON part of a checkpoint: everything but the tensors. <see cref="GeneratorState"/> is the base64 of the trainer's
/// torch.Generator state (get_state); <see cref="DataPosition"/> is the batch source's <see cref="IBatchSource.GetPosition"/>.
/// </summary>
public sealed record CheckpointState(
    string Format,
    long Step,
    long OptimizerSteps,
    TrainConfig Config,
    string GeneratorState,
    string DataPosition,
    double? LastLoss,
    DateTime CreatedUtc);

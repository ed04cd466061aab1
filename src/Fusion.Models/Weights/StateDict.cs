using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Fusion.Models.Weights;

/// <summary>
/// Reading published checkpoints into our modules with strict checks. PyBridge's own loaders skip shape checks and
/// silently tolerate missing keys; a reproduction must not, so every load goes through <see cref="LoadStrict"/>.
/// </summary>
public static class StateDict
{
    /// <summary>
    /// Reads a state dict from a file: safetensors, or a zip-format PyTorch file (.pt/.pth/.ckpt/.bin) whose top level
    /// is the state dict or holds it under <paramref name="nestedKey"/> (e.g. "state_dict" in Lightning checkpoints),
    /// or a legacy (pre-1.6, non-zip) torch.save file, read by <see cref="LegacyTorchFile"/>.
    /// </summary>
    public static Dictionary<string, Tensor> Read(string path, string? nestedKey = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return Safetensors.LoadStateDict(path);
        if (LegacyTorchFile.IsLegacy(path)) return LegacyTorchFile.ReadStateDict(path, nestedKey);
        using var stream = File.OpenRead(path);
        var top = PyTorchUnpickler.UnpickleStateDict(stream);
        if (nestedKey is not null && top.Contains(nestedKey)) top = (System.Collections.Hashtable)top[nestedKey]!;
        var result = new Dictionary<string, Tensor>();
        foreach (System.Collections.DictionaryEntry e in top)
        {
            if (e.Value is Tensor t) result[(string)e.Key] = t;
            else throw new InvalidDataException($"{path}: entry '{e.Key}' is a {e.Value?.GetType().Name ?? "null"}, not a tensor" +
                                                (nestedKey is null ? "" : $" (looked under '{nestedKey}')"));
        }
        return result;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="module"/>'s parameters and buffers. Every key of the module
    /// must be present with the same shape and no unexpected key may remain; otherwise throws naming each culprit key
    /// (and both shapes). Values are converted to each target's dtype and device.
    /// </summary>
    public static void LoadStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string sourceName,
        Func<string, bool>? ignoreUnexpected = null)
    {
        var target = module.state_dict();
        var problems = new List<string>();
        foreach (var (key, t) in target)
        {
            if (!source.TryGetValue(key, out var s)) problems.Add($"missing key '{key}' (expected shape {Shape(t)})");
            else if (!s.shape.SequenceEqual(t.shape)) problems.Add($"key '{key}': checkpoint shape {Shape(s)}, model shape {Shape(t)}");
        }
        foreach (var key in source.Keys)
            if (!target.ContainsKey(key) && !(ignoreUnexpected?.Invoke(key) ?? false))
                problems.Add($"unexpected key '{key}' (shape {Shape(source[key])})");
        if (problems.Count > 0)
            throw new InvalidDataException($"{sourceName} does not match {module.GetName()}: {problems.Count} problem(s):\n  " +
                                           string.Join("\n  ", problems.Take(50)) + (problems.Count > 50 ? "\n  …" : ""));
        using var _ = no_grad();
        foreach (var (key, t) in target) t.copy_(source[key]);
    }

    /// <summary>Reads <paramref name="path"/> and loads it strictly into <paramref name="module"/>.</summary>
    public static void LoadStrict(nn.Module module, string path, string? nestedKey = null, Func<string, bool>? ignoreUnexpected = null)
    {
        var sd = Read(path, nestedKey);
        try { LoadStrict(module, sd, path, ignoreUnexpected); }
        finally { foreach (var t in sd.Values) t.Dispose(); }
    }

    public static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}

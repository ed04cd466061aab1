using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Fusion.Worker.Distributed;

namespace Fusion.Tests.Worker;

/// <summary>
/// A node executor with the store's semantics, on files: each execution is recorded (attempts/), the output is a digest
/// of the node and its inputs' committed outputs, and the commit is create-only (commits/&lt;fingerprint&gt;, moved into
/// place without overwrite). Only the winner of a commit writes commit-log/&lt;fingerprint&gt;.&lt;pid&gt;, so a duplicate
/// commit would show as two entries. Node durations come from delays.json (node id → ms; default 300).
/// </summary>
public sealed class FileCommitExecutor(string root) : INodeExecutor
{
    public async Task<NodeExecution> ExecuteAsync(NodeWorkItem item, CancellationToken ct)
    {
        var commit = Path.Combine(root, "commits", item.Fingerprint);
        if (File.Exists(commit)) return new NodeExecution(await File.ReadAllTextAsync(commit, ct), Reused: true);
        Touch("attempts", $"{item.NodeId}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        Touch("started", $"{item.NodeId}.{Environment.ProcessId}");

        try { await Task.Delay(DelayOf(item.NodeId), ct); }
        catch (OperationCanceledException)
        {
            Touch("checkpoints", $"{item.NodeId}.{Environment.ProcessId}");   // what a real stage saves before it stops
            throw;
        }
        var text = new StringBuilder(item.NodeId).Append('|').Append(item.Fingerprint);
        foreach (var (dep, result) in item.Inputs.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            text.Append('|').Append(dep).Append('=').Append(await File.ReadAllTextAsync(Path.Combine(root, "commits", result.Fingerprint), ct));
        var output = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));

        Directory.CreateDirectory(Path.GetDirectoryName(commit)!);
        var temp = $"{commit}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(temp, output, ct);
        try
        {
            File.Move(temp, commit, overwrite: false);
        }
        catch (IOException) when (File.Exists(commit))
        {
            File.Delete(temp);
            return new NodeExecution(await File.ReadAllTextAsync(commit, ct), Reused: true);
        }
        Touch("commit-log", $"{item.Fingerprint}.{Environment.ProcessId}");
        return new NodeExecution(output, Reused: false);
    }

    private int DelayOf(string nodeId)
    {
        var file = Path.Combine(root, "delays.json");
        var delays = File.Exists(file) ? JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(file))! : [];
        return delays.GetValueOrDefault(nodeId, 300);
    }

    private void Touch(string folder, string name)
    {
        Directory.CreateDirectory(Path.Combine(root, folder));
        File.WriteAllText(Path.Combine(root, folder, name), "");
    }
}

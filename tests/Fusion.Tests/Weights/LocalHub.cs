using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Fusion.Tests.Datasets;

namespace Fusion.Tests.Weights;

/// <summary>
/// The Hugging Face Hub's download surface on a <see cref="LocalHttpServer"/>: commits of files per repository, the
/// branch 'main' naming the latest, the API answers pinning reads — <c>api/models/REPO/revision/main</c> (its
/// <c>sha</c>) and <c>api/models/REPO/tree/COMMIT</c> (<c>path</c>, <c>size</c>, git <c>oid</c>, and for LFS files
/// <c>lfs</c> with <c>oid</c> = SHA-256, <c>size</c>, <c>pointerSize</c>) — and <c>REPO/resolve/{COMMIT|main}/FILE</c>.
/// </summary>
public sealed class LocalHub(LocalHttpServer server)
{
    public Uri Endpoint => server.Url("");

    /// <summary>Publishes a commit of <paramref name="files"/> (those named in <paramref name="lfs"/> stored with LFS) and moves main to it.</summary>
    /// <returns>The commit id.</returns>
    public string Commit(string repo, IReadOnlyDictionary<string, byte[]> files, IReadOnlySet<string> lfs)
    {
        var commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(repo + string.Concat(files.Select(f => f.Key + Sha256(f.Value))))));
        var tree = new JsonArray(new JsonObject { ["type"] = "directory", ["oid"] = new string('0', 40), ["size"] = 0, ["path"] = "onnx" });
        foreach (var (name, bytes) in files)
        {
            server.Files[$"{repo}/resolve/{commit}/{name}"] = bytes;
            server.Files[$"{repo}/resolve/main/{name}"] = bytes;
            var entry = new JsonObject { ["type"] = "file", ["oid"] = GitBlobId(bytes), ["size"] = bytes.Length, ["path"] = name };
            if (lfs.Contains(name)) entry["lfs"] = new JsonObject { ["oid"] = Sha256(bytes), ["size"] = bytes.Length, ["pointerSize"] = 134 };
            tree.Add(entry);
        }
        server.Files[$"api/models/{repo}/tree/{commit}"] = Encoding.UTF8.GetBytes(tree.ToJsonString());
        server.Files[$"api/models/{repo}/revision/main"] = Encoding.UTF8.GetBytes(new JsonObject { ["id"] = repo, ["sha"] = commit }.ToJsonString());
        return commit;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string GitBlobId(byte[] bytes) => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));
}

using System.IO.Compression;

namespace Fusion.Datasets.Download;

/// <summary>An archive entry that was not extracted, and why (absolute path, escapes the target folder).</summary>
public sealed record RefusedZipEntry(string Name, string Reason);

public sealed record ZipExtractionReport(IReadOnlyList<string> Extracted, int AlreadyPresent, IReadOnlyList<RefusedZipEntry> Refused);

/// <summary>
/// Zip extraction that refuses entries that are absolute or escape the target folder (zip-slip), lists them in the
/// report, and extracts everything else. Each file is written to a temporary name and renamed, so an interrupted
/// extraction never leaves a truncated file under its real name; files already present with the entry's size are kept
/// (an interrupted extraction resumes).
/// </summary>
public static class SafeZip
{
    public static ZipExtractionReport Extract(string zipPath, string targetDirectory, Func<string, bool>? include = null, CancellationToken ct = default)
    {
        var root = Path.GetFullPath(targetDirectory);
        var rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        Directory.CreateDirectory(root);
        var extracted = new List<string>();
        var refused = new List<RefusedZipEntry>();
        var present = 0;
        using var zip = ZipFile.OpenRead(zipPath);
        foreach (var entry in zip.Entries)
        {
            ct.ThrowIfCancellationRequested();
            var name = entry.FullName.Replace('\\', '/');
            if (name.StartsWith('/') || Path.IsPathRooted(name) || (name.Length >= 2 && name[1] == ':'))
            {
                refused.Add(new RefusedZipEntry(entry.FullName, "absolute path"));
                continue;
            }
            var full = Path.GetFullPath(Path.Combine(root, name));
            if (!full.StartsWith(rootWithSep, StringComparison.Ordinal) && full != root)
            {
                refused.Add(new RefusedZipEntry(entry.FullName, $"escapes the target folder (resolves to {full})"));
                continue;
            }
            if (include is not null && !include(name)) continue;
            if (name.EndsWith('/')) { Directory.CreateDirectory(full); continue; }
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            if (File.Exists(full) && new FileInfo(full).Length == entry.Length) { present++; continue; }
            var tmp = full + ".part";
            entry.ExtractToFile(tmp, overwrite: true);
            File.Move(tmp, full, overwrite: true);
            extracted.Add(name);
        }
        return new ZipExtractionReport(extracted, present, refused);
    }
}

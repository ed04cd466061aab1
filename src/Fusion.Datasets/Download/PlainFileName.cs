namespace Fusion.Datasets.Download;

/// <summary>
/// File names taken from data (a captions file's <c>file_name</c>) that get joined to a folder. Only a plain name is
/// used: one path component, not rooted, not "." or "..", without control characters (NUL included) or characters the
/// OS forbids in names, and it must resolve directly inside its folder. Anything else could make the data read, move
/// or overwrite files outside the folder, so callers report it and skip the entry.
/// </summary>
public static class PlainFileName
{
    /// <summary>Why <paramref name="name"/> is not a plain file name (a sentence naming it), or null when it is.</summary>
    public static string? Problem(string name)
    {
        var why = name switch
        {
            "" => "it is empty",
            "." or ".." => "it names a folder",
            _ when Path.IsPathRooted(name) => "it is an absolute path",
            _ when name.Contains('/') || name.Contains('\\') => "it has a directory separator",
            _ when name.Any(char.IsControl) => "it has a control character",
            _ when name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 => "it has a character file names cannot hold",
            _ => null,
        };
        return why is null ? null : $"'{Show(name)}' is not a plain file name: {why}";
    }

    /// <summary>
    /// The full path of <paramref name="name"/> directly inside <paramref name="folder"/>. Throws
    /// <see cref="InvalidDataException"/> for a name that is not plain (check <see cref="Problem"/> first to skip it).
    /// </summary>
    public static string In(string folder, string name)
    {
        if (Problem(name) is { } why) throw new InvalidDataException(why);
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var full = Path.GetFullPath(Path.Combine(root, name));
        // A plain name cannot leave its folder; checked again on the resolved path so a gap in Problem cannot either.
        if (Path.GetDirectoryName(full) != root) throw new InvalidDataException($"'{Show(name)}' resolves to {full}, outside {root}");
        return full;
    }

    /// <summary>The name as messages print it: control characters escaped, so a problem stays on one line.</summary>
    public static string Show(string name) =>
        name.Any(char.IsControl) ? string.Concat(name.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) : name;
}

using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Fusion.Reproduction.Weights;

/// <summary>
/// One file in the weights lock: where it comes from (a Hugging Face repository at a commit, or a fixed URL) and what
/// it must be (size, SHA-256). A null field is not known yet; the next `fusion run` that needs the file fills it in.
/// </summary>
public sealed partial record LockedFile
{
    /// <summary>The component's pipeline name (clip-vit-large-patch14, …).</summary>
    public required string Component { get; init; }
    public required string File { get; init; }
    /// <summary>The Hugging Face repository (owner/name); null for a file at a plain URL.</summary>
    public string? Repo { get; init; }
    /// <summary>The commit (40 hex digits) a Hub file is fetched at. A file at a plain URL has none: its digest pins it.</summary>
    public string? Revision { get; init; }
    /// <summary>The file's URL: for a Hub file, huggingface.co's resolve URL at <see cref="Revision"/>.</summary>
    public string? Url { get; init; }
    public long? Size { get; init; }
    public string? Sha256 { get; init; }
    /// <summary>The leading hex digits of the SHA-256 as the publisher states them: a partial check, kept beside the full digest.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sha256Prefix { get; init; }

    [JsonIgnore] public string Key => $"{Component}/{File}";
    [JsonIgnore] public bool IsHub => Repo is not null;
    /// <summary>Everything a run needs to fetch the file and check it is known.</summary>
    [JsonIgnore] public bool IsPinned => Sha256 is not null && Size is not null && (!IsHub || Revision is not null);

    [GeneratedRegex("^[0-9a-f]{40}$")] private static partial Regex CommitPattern();
    [GeneratedRegex("^[0-9a-f]{64}$")] private static partial Regex Sha256Pattern();
    [GeneratedRegex("^[0-9a-f]{1,63}$")] private static partial Regex PrefixPattern();

    public static bool IsCommit(string? text) => text is not null && CommitPattern().IsMatch(text);

    /// <summary>What is wrong with the entry's fields on their own (null: nothing).</summary>
    public string? Problem()
    {
        if (Revision is not null && !IsCommit(Revision))
            return $"revision '{Revision}' is not a commit: write the commit's 40 hex digits (lower case), or null to pin the commit 'main' names on the next run";
        if (Revision is not null && !IsHub) return "has a revision but no repo: a file at a plain URL is pinned by its digest";
        if (Sha256 is not null && !Sha256Pattern().IsMatch(Sha256)) return $"sha256 '{Sha256}' is not 64 lower-case hex digits";
        if (Sha256Prefix is not null && !PrefixPattern().IsMatch(Sha256Prefix)) return $"sha256_prefix '{Sha256Prefix}' is not 1 to 63 lower-case hex digits";
        if (Sha256 is not null && Sha256Prefix is not null && !Sha256.StartsWith(Sha256Prefix, StringComparison.Ordinal))
            return $"sha256 {Sha256} does not start with its sha256_prefix {Sha256Prefix}";
        if (Size is < 0) return $"size {Size} is negative";
        if (!IsHub && Url is null) return "needs a repo or a url";
        if (IsHub && Revision is not null && Url != HubSettings.CanonicalUrl(Repo!, Revision, File))
            return $"url '{Url}' is not the file's URL at its revision ({HubSettings.CanonicalUrl(Repo!, Revision, File)})";
        return null;
    }
}

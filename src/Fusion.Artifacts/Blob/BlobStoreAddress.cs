using System.Text.RegularExpressions;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// Where a blob store lives: <c>azure://ACCOUNT/CONTAINER[/PREFIX]</c>. Holds no secret, so it is safe to print.
/// </summary>
public sealed partial record BlobStoreAddress(string Account, string Container, string Prefix)
{
    public const string Scheme = "azure://";

    public static bool IsBlobAddress(string location) => location.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses <c>azure://ACCOUNT/CONTAINER[/PREFIX]</c>; throws <see cref="FormatException"/> naming the bad part.</summary>
    public static BlobStoreAddress Parse(string location)
    {
        if (!IsBlobAddress(location))
            throw new FormatException($"'{location}' is not a blob store location: expected azure://ACCOUNT/CONTAINER[/PREFIX]");
        var parts = location[Scheme.Length..].Trim('/').Split('/');
        if (parts.Length < 2)
            throw new FormatException($"'{location}' lacks a container: expected azure://ACCOUNT/CONTAINER[/PREFIX]");
        var (account, container) = (parts[0], parts[1]);
        if (!AccountRule().IsMatch(account))
            throw new FormatException($"'{location}': storage account '{account}' must be 3-24 lower-case letters or digits");
        if (!ContainerRule().IsMatch(container) || container.Contains("--"))
            throw new FormatException($"'{location}': container '{container}' must be 3-63 lower-case letters, digits or single hyphens, starting and ending with a letter or digit");
        var prefix = parts[2..];
        if (prefix.Any(p => p is "" or "." or ".." || p.Contains('\\')))
            throw new FormatException($"'{location}': the prefix must be '/'-separated names without empty, '.' or '..' parts");
        return new BlobStoreAddress(account, container, string.Join('/', prefix));
    }

    public override string ToString() => $"{Scheme}{Account}/{Container}" + (Prefix.Length > 0 ? "/" + Prefix : "");

    [GeneratedRegex("^[a-z0-9]{3,24}$")]
    private static partial Regex AccountRule();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex ContainerRule();
}

using System.Net.Http.Headers;

namespace Fusion.Reproduction.Weights;

/// <summary>
/// The Hugging Face Hub as its usual environment variables describe it: <c>HF_ENDPOINT</c> (base URL, default
/// https://huggingface.co, e.g. a mirror), <c>HF_TOKEN</c> (else the token file <c>HF_TOKEN_PATH</c>, default
/// <c>HF_HOME/token</c>, where <c>hf auth login</c> leaves it) and <c>HF_HUB_CACHE</c> (default <c>HF_HOME/hub</c>;
/// <c>HF_HOME</c> defaults to ~/.cache/huggingface): the cache huggingface_hub fills, read here for files of a pinned
/// commit and never written. The token goes only to the endpoint, as <c>Authorization: Bearer</c>; nothing here prints
/// or returns it.
/// </summary>
public sealed class HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    private readonly string? token;

    public HubSettings(Uri endpoint, string? token, string cacheFolder)
    {
        Endpoint = endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/");
        this.token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        CacheFolder = cacheFolder;
    }

    /// <summary>The base URL, ending in '/'.</summary>
    public Uri Endpoint { get; }
    public string CacheFolder { get; }
    public bool HasToken => token is not null;

    /// <param name="variable">Reads an environment variable (tests pass their own).</param>
    public static HubSettings FromEnvironment(Func<string, string?>? variable = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        string? Set(string name) => variable(name) is { Length: > 0 } v ? v : null;
        var home = Set("HF_HOME") ?? Path.Combine(Set("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");
        var endpoint = Set("HF_ENDPOINT") ?? DefaultEndpoint;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new FormatException($"HF_ENDPOINT '{endpoint}' is not an http(s) URL");
        var tokenFile = Set("HF_TOKEN_PATH") ?? Path.Combine(home, "token");
        var token = Set("HF_TOKEN") ?? (File.Exists(tokenFile) ? File.ReadAllText(tokenFile) : null);
        return new HubSettings(uri, token, Set("HF_HUB_CACHE") ?? Path.Combine(home, "hub"));
    }

    /// <summary>A file of <paramref name="repo"/> at <paramref name="revision"/> on this endpoint.</summary>
    public Uri FileUrl(string repo, string revision, string file) => new(Endpoint, $"{repo}/resolve/{revision}/{file}");

    /// <summary>The same file on huggingface.co: how the lock names it, whichever endpoint fetched it.</summary>
    public static string CanonicalUrl(string repo, string revision, string file) => $"{DefaultEndpoint}/{repo}/resolve/{revision}/{file}";

    public Uri ApiUrl(string path) => new(Endpoint, "api/" + path);

    /// <summary>The file in the huggingface_hub cache's snapshot of that commit, if it is there.</summary>
    public string? CachedFile(string repo, string revision, string file)
    {
        var path = Path.Combine(CacheFolder, "models--" + repo.Replace("/", "--"), "snapshots", revision, file);
        return File.Exists(path) ? path : null;
    }

    /// <summary>A client that sends the token to this endpoint only (redirects elsewhere, e.g. to a CDN, go without it).</summary>
    public HttpClient CreateClient() =>
        new(new TokenHandler(Endpoint, token) { InnerHandler = new SocketsHttpHandler() }) { Timeout = Timeout.InfiniteTimeSpan };

    public override string ToString() => Endpoint + (HasToken ? " (with a token)" : "");

    private sealed class TokenHandler(Uri endpoint, string? token) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (token is not null && request.RequestUri is { } uri && Uri.Compare(uri, endpoint, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0
                && uri.AbsolutePath.StartsWith(endpoint.AbsolutePath, StringComparison.Ordinal))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return base.SendAsync(request, ct);
        }
    }
}

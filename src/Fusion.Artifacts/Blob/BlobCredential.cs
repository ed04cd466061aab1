extern alias AzureIdentity;
using Azure;
using Azure.Core;
using AzureIdentity::Azure.Identity;
using Azure.Storage.Blobs;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// How a blob store authenticates: a connection string (its BlobEndpoint, if any, also points at the service, e.g.
/// Azurite), a SAS token, or an Entra ID token credential (DefaultAzureCredential). Never prints its secret.
/// </summary>
public sealed class BlobCredential
{
    private readonly string? _connectionString;
    private readonly string? _sas;
    private readonly TokenCredential? _token;
    private readonly string _kind;

    private BlobCredential(string kind, string? connectionString, string? sas, TokenCredential? token) =>
        (_kind, _connectionString, _sas, _token) = (kind, connectionString, sas, token);

    public static BlobCredential FromConnectionString(string connectionString) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? throw new ArgumentException("the storage connection string is empty", nameof(connectionString))
            : new("connection string", connectionString.Trim(), null, null);

    /// <summary>A SAS token ("sv=…&amp;sig=…", with or without the leading '?') for the account or the container.</summary>
    public static BlobCredential FromSas(string sasToken) =>
        string.IsNullOrWhiteSpace(sasToken)
            ? throw new ArgumentException("the SAS token is empty", nameof(sasToken))
            : new("SAS token", null, sasToken.Trim().TrimStart('?'), null);

    public static BlobCredential FromTokenCredential(TokenCredential credential) => new("token credential", null, null, credential);

    /// <summary>Entra ID through <see cref="DefaultAzureCredential"/> (environment, managed identity, Azure CLI, …).</summary>
    public static BlobCredential DefaultAzure() => FromTokenCredential(EntraIdToken());

    /// <summary>The token credential behind <see cref="DefaultAzure"/>, for other Azure clients (the task hub's queues and tables).</summary>
    public static TokenCredential EntraIdToken() => new DefaultAzureCredential();

    /// <summary>
    /// The credential the environment offers: AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_SAS_TOKEN, else
    /// DefaultAzureCredential (the same variables the Azure CLI reads).
    /// </summary>
    public static BlobCredential FromEnvironment() =>
        Environment.GetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING") is { Length: > 0 } cs ? FromConnectionString(cs)
        : Environment.GetEnvironmentVariable("AZURE_STORAGE_SAS_TOKEN") is { Length: > 0 } sas ? FromSas(sas)
        : DefaultAzure();

    public override string ToString() => $"{_kind} (secret hidden)";

    /// <summary>Secret fragments that must never appear in a message: the account key, the SAS and its signature.</summary>
    internal IEnumerable<string> Secrets()
    {
        foreach (var s in new[] { _connectionString, _sas })
        {
            if (s is null) continue;
            yield return s;
            foreach (var part in s.Split(';', '&'))
            {
                var eq = part.IndexOf('=');
                if (eq <= 0) continue;
                var (key, value) = (part[..eq].Trim(), part[(eq + 1)..].Trim());
                if (value.Length < 8) continue;
                if (key.Equals("AccountKey", StringComparison.OrdinalIgnoreCase) || key.Equals("sig", StringComparison.OrdinalIgnoreCase) ||
                    key.Equals("SharedAccessSignature", StringComparison.OrdinalIgnoreCase))
                {
                    yield return value;
                    yield return Uri.EscapeDataString(value);
                    if (Uri.UnescapeDataString(value) is var raw && raw != value) yield return raw;
                }
            }
        }
    }

    /// <summary>The service client for <paramref name="address"/>; the endpoint is the connection string's, else
    /// <paramref name="endpoint"/>, else https://ACCOUNT.blob.core.windows.net.</summary>
    internal BlobServiceClient CreateServiceClient(BlobStoreAddress address, Uri? endpoint, BlobClientOptions options)
    {
        if (_connectionString is not null)
        {
            BlobServiceClient client;
            try { client = new BlobServiceClient(_connectionString, options); }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new ArgumentException($"the storage connection string for {address} is malformed (its content is not shown)");
            }
            if (!string.Equals(client.AccountName, address.Account, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"the connection string is for storage account '{client.AccountName}', but the store location is {address}");
            return client;
        }
        var serviceUri = endpoint ?? new Uri($"https://{address.Account}.blob.core.windows.net");
        return _sas is not null
            ? new BlobServiceClient(serviceUri, new AzureSasCredential(_sas), options)
            : new BlobServiceClient(serviceUri, _token!, options);
    }
}

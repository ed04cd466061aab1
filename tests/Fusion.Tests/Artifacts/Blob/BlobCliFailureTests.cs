using System.Net;
using System.Net.Sockets;
using Fusion.Artifacts.Blob;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;

namespace Fusion.Tests.Artifacts.Blob;

/// <summary>The `fusion` command line against a blob store that refuses it, cannot be reached, or holds a damaged document.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobCliFailureTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string container = AzuriteFixture.NewContainer();
    private readonly TempDir temp = new();

    private string Location => $"azure://{AzuriteProcess.Account}/{container}";

    private Task<(int Code, string Output)> Fusion(string connectionString, params string[] args) =>
        FusionCli.RunAsync(args, TimeSpan.FromMinutes(2), temp.Path,
            new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = connectionString, ["HOME"] = temp["home"] });

    private static void AssertStoreFailure((int Code, string Output) result, string hint)
    {
        Assert.True(result.Code == 3, result.Output);
        Assert.Contains("error: ", result.Output);
        Assert.Contains(hint, result.Output);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.DoesNotContain(AzuriteProcess.AccountKey, result.Output);
    }

    [Fact]
    public async Task A_wrong_key_exits_3_saying_to_check_the_credentials()
    {
        var wrongKey = azurite.ConnectionString.Replace(AzuriteProcess.AccountKey, Convert.ToBase64String(new byte[64]));
        AssertStoreFailure(await Fusion(wrongKey, "status", "--store", Location), "check the credentials");
    }

    [Fact]
    public async Task An_unreachable_endpoint_exits_3_saying_it_could_not_be_reached()
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var nowhere = $"DefaultEndpointsProtocol=http;AccountName={AzuriteProcess.Account};AccountKey={AzuriteProcess.AccountKey};BlobEndpoint=http://127.0.0.1:{port}/{AzuriteProcess.Account};";
        AssertStoreFailure(await Fusion(nowhere, "status", "--store", Location), "could not be reached");
    }

    [Fact]
    public async Task Status_lists_a_run_whose_ledger_blob_is_damaged_as_unreadable()
    {
        await using var store = await BlobArtifactStore.OpenAsync(Location, BlobCredential.FromConnectionString(azurite.ConnectionString),
            new BlobStoreOptions { WorkDirectory = temp["work"], CacheDirectory = temp["cache"] });
        var path = EngineDocuments.RunPath("20260101-000000-000-beef");
        await store.PutDocumentAsync(path, "{\"runId\": "u8.ToArray());

        var status = await Fusion(azurite.ConnectionString, "status", "--store", Location);
        Assert.True(status.Code == 0, status.Output);
        Assert.Matches(@"20260101-000000-000-beef\s+\?\s+unreadable", status.Output);
        Assert.Contains(store.DescribeDocument(path), status.Output);
        AssertStoreFailure(await Fusion(azurite.ConnectionString, "status", "20260101", "--store", Location), "move it aside");
    }

    public void Dispose() => temp.Dispose();
}

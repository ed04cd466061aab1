using System.Diagnostics;
using Fusion.Artifacts.Blob;
using Fusion.Tests.Support;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Fingerprints;
using Fusion.Workflow.Pipelines;
using Fusion.Workflow.Stages;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Workflow;

/// <summary>A node whose work is done must not lose it to a blob outage at its end: every step of the commit path
/// (the removal of the artifact it replaces included) pauses and goes on once the service is back.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class BlobCommitOutageTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Single = "stages:\n  a: {kind: constant, params: {text: abc}}\n";
    private static readonly EnvironmentFacts Facts = EnvironmentFacts.Of(("torchsharp", "0"), ("libtorch", "0"), ("device", "cpu"), ("dtype", "float32"));
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);

    private readonly string _container = AzuriteFixture.NewContainer();
    private readonly TempDir _temp = new();
    private BlobArtifactStore? _store;

    public async Task InitializeAsync() =>
        _store = await BlobArtifactStore.OpenAsync($"azure://{AzuriteProcess.Account}/{_container}",
            BlobCredential.FromConnectionString(azurite.ConnectionString),
            new BlobStoreOptions
            {
                WorkDirectory = _temp["work"], CacheDirectory = _temp["cache"],
                // Quick to give up per operation, so the pauses are what carries the node through the outage.
                MaxRetries = 1, SdkMaxRetries = 0, RetryBaseDelay = TimeSpan.FromMilliseconds(100), OperationTimeout = TimeSpan.FromSeconds(5),
                CommitRetryDelays = [TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(20)],
            });

    public async Task DisposeAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task A_forced_node_rides_out_an_outage_at_its_end_and_commits()
    {
        var store = _store!;
        var pipeline = PipelineLoader.Parse(Single, "single.yaml", EngineHarness.Registry1());
        var node = new Executor(store, EngineHarness.Registry1(), new FixedEnvironmentFacts(Facts), NullLoggerFactory.Instance).Fingerprint(pipeline)["a"];
        var first = await new NodeRunner(store, EngineHarness.Registry1(), Facts, NullLoggerFactory.Instance).RunAsync(node, new NodeRunOptions(pipeline.Name), CancellationToken.None);
        Assert.Equal(NodeState.Ran, first.State);

        // Forced, so the old artifact is deleted before the commit: the service goes down as the stage starts (the
        // stage itself is local), so that delete is the first step to meet the outage.
        var outage = new OutageAtStart(azurite, Outage);
        var clock = Stopwatch.StartNew();
        NodeOutcome rerun;
        try
        {
            rerun = await new NodeRunner(store, EngineHarness.Registry1(), Facts, NullLoggerFactory.Instance, outage)
                .RunAsync(node, new NodeRunOptions(pipeline.Name, Force: true), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(90));
        }
        finally { await outage.Over; }

        Assert.True(outage.Began, "the outage must have begun");
        Assert.True(rerun.State == NodeState.Ran, $"the node must finish and commit, got {rerun.State}: {rerun.Error}");
        Assert.True(clock.Elapsed >= Outage, "the commit can only have finished after the outage");
        var committed = (await store.GetManifestAsync(node.Fingerprint, verifyHashes: true)).Manifest;
        Assert.NotNull(committed);
        Assert.True(committed.CommittedUtc > first.Manifest!.CommittedUtc, "the forced run's commit replaced the old one");
    }

    /// <summary>Stops Azurite when the node's stage starts and starts it again after <c>length</c>.</summary>
    private sealed class OutageAtStart(AzuriteFixture azurite, TimeSpan length) : IRunObserver
    {
        private readonly TaskCompletionSource _over = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Began { get; private set; }
        public Task Over => Began ? _over.Task : Task.CompletedTask;

        public void NodeStarted(PlannedNode node, IReadOnlyList<string> reasons)
        {
            // Stopped rather than killed: a killed Azurite can lose its last seconds of metadata, real storage does not.
            Task.Run(() => azurite.Azurite.StopAsync()).GetAwaiter().GetResult();
            Began = true;
            _ = Task.Run(async () =>
            {
                try
                {
                    await Task.Delay(length);
                    await azurite.RestartAsync();
                    _over.SetResult();
                }
                catch (Exception e) { _over.SetException(e); }
            });
        }
    }
}

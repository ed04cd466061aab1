using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Cli;
using Fusion.Workflow.Pipelines;

namespace Fusion.Tests.Cli;

/// <summary>Which failures the command line treats as expected, with which exit code and advice (those a test cannot provoke cheaply: a full disk, a read-only mount).</summary>
public sealed class FailureReportTests
{
    [Fact]
    public void Expected_failures_get_their_documented_exit_code_and_a_hint_where_one_helps()
    {
        Assert.Equal(ExitCodes.Usage, FailureReport.Classify(new PipelineException("bad", new SourceLocation("p.yaml", 1, 2)))!.ExitCode);
        Assert.Equal(ExitCodes.Usage, FailureReport.Classify(new FormatException("'azure://X' is not a blob store location"))!.ExitCode);

        var full = FailureReport.Classify(new IOException("No space left on device : '/store/docs/runs/x.json'", 28))!;
        Assert.Equal(ExitCodes.Store, full.ExitCode);
        Assert.Contains("disk is full", full.Hint);
        Assert.Contains("must be writable", FailureReport.Classify(new IOException("Read-only file system : '/store'", 30))!.Hint);
        Assert.Contains("must be writable", FailureReport.Classify(new UnauthorizedAccessException("Access to the path '/store' is denied."))!.Hint);

        var forbidden = FailureReport.Classify(new BlobStoreException("azure://a/c: AuthorizationFailure (403)", 403, "AuthorizationFailure"))!;
        Assert.Equal(ExitCodes.Store, forbidden.ExitCode);
        Assert.Contains("credentials", forbidden.Hint);
        Assert.Contains("could not be reached", FailureReport.Classify(new BlobStoreException("azure://a/c: connection refused", transient: true))!.Hint);

        var damaged = FailureReport.Classify(new DocumentCorruptException("/store/docs/pins.json", "bad JSON"))!;
        Assert.Equal(ExitCodes.Store, damaged.ExitCode);
        Assert.Contains("/store/docs/pins.json", damaged.What);
        Assert.Equal(ExitCodes.Interrupted, FailureReport.Classify(new OperationCanceledException())!.ExitCode);
    }

    [Fact]
    public void Anything_else_is_a_bug_and_keeps_its_stack()
    {
        Assert.Null(FailureReport.Classify(new NullReferenceException()));
        Assert.Null(FailureReport.Classify(new InvalidOperationException("state")));
    }
}

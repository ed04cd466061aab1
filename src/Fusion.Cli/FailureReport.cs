using System.Net.Http;
using System.Net.Sockets;
using Fusion.Artifacts.Blob;
using Fusion.Artifacts.Store;
using Fusion.Artifacts.Tables;
using Fusion.Models;
using Fusion.Reproduction.Weights;
using Fusion.Worker.Distributed;
using Fusion.Workflow.Execution;
using Fusion.Workflow.Pipelines;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>What failed, what to do about it, and the exit code that says which kind of failure it was.</summary>
public sealed record Failure(int ExitCode, string What, string? Hint = null);

/// <summary>
/// The command line's one error path. A failure users can act on (bad input, a store that cannot be reached or refuses
/// access, a read-only or full disk, a damaged file) prints one or two lines — what failed, naming the file, URL or
/// node, and what to do — with its documented exit code; the stack only with -v. Any other exception is a bug: it
/// prints with its stack and exits 1.
/// </summary>
public static class FailureReport
{
    // errno values .NET puts in an IOException's HResult on Unix; Windows' own codes for the same conditions.
    private const int NoSpace = 28, ReadOnlyFileSystem = 30;
    private static readonly int[] WindowsDiskFull = [unchecked((int)0x80070070), unchecked((int)0x80070027)];

    private const string StoreAccess = "the store must be writable by this user: check the folder's permissions, or choose another with --store or $FUSION_STORE";

    public static Failure? Classify(Exception e) => e switch
    {
        PipelineException or FileNotFoundException or DirectoryNotFoundException or KeyNotFoundException or FormatException or ArgumentException
            => new(ExitCodes.Usage, e.Message),
        CudaUnavailableException cuda => new(ExitCodes.Usage, cuda.Message, cuda.Hint),
        WeightsMismatchException => new(ExitCodes.Store, e.Message, WeightsMismatchException.Hint),
        BlobStoreException { IsAuthentication: true } => new(ExitCodes.Store, e.Message,
            "check the credentials (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN or an Entra ID login) and that they may read and write this container"),
        BlobStoreException { IsTransient: true } => new(ExitCodes.Store, e.Message,
            "the service could not be reached or kept failing: check the address and the network, then run the command again (committed nodes are kept)"),
        BlobStoreException => new(ExitCodes.Store, e.Message),
        TaskHubUnreachableException => new(ExitCodes.Store, e.Message,
            "check Worker:Distributed:ConnectionString (or AccountName) and that the storage account, or Azurite, is up and reachable from here"),
        DocumentCorruptException => new(ExitCodes.Store, e.Message,
            "the document is damaged (nothing was deleted for it): look at it, then move it aside or delete it"),
        ArtifactCorruptException => new(ExitCodes.Store, e.Message, "`fusion run --verify` recomputes broken artifacts and every node built from them"),
        // Inputs are hashed before use, so a table that cannot be decoded has the bytes its node committed.
        TableDamagedException table => new(ExitCodes.Store, e.Message,
            $"its bytes are the ones committed, so it was written damaged: `fusion run --force {table.Node ?? "NODE"}` recomputes the node that wrote it"),
        StoreNotAFolderException => new(ExitCodes.Store, e.Message,
            "give --store (or $FUSION_STORE) a folder, new or used as a store before, or move the file aside"),
        UnauthorizedAccessException => new(ExitCodes.Store, e.Message, StoreAccess),
        IOException { HResult: ReadOnlyFileSystem } when !OperatingSystem.IsWindows() => new(ExitCodes.Store, e.Message, StoreAccess),
        IOException io when IsDiskFull(io) => new(ExitCodes.Store, e.Message,
            "the disk is full: free space (`fusion gc` removes artifacts no pipeline needs), or choose another store with --store"),
        InvalidDataException => new(ExitCodes.Usage, e.Message),
        HttpRequestException or SocketException or TimeoutException or IOException => new(ExitCodes.Store, e.Message),
        OperationCanceledException => new(ExitCodes.Interrupted, "interrupted"),
        _ => null,
    };

    private static bool IsDiskFull(IOException e) =>
        OperatingSystem.IsWindows() ? WindowsDiskFull.Contains(e.HResult) : e.HResult == NoSpace;

    /// <summary>
    /// The exit code of a failed run. When every failed node failed for the store (a full disk, a damaged input), that
    /// is the run's failure: one line naming the first such node, the hint once, and the store's exit code. Otherwise
    /// the run table has said it all and the code is <see cref="ExitCodes.Failed"/>.
    /// </summary>
    public static int WriteFailedRun(RunRecord run)
    {
        var failures = run.Failures.Select(f => (Node: f.Key, Failure: Classify(f.Value))).ToList();
        if (failures.Count == 0 || failures.Any(f => f.Failure?.ExitCode != ExitCodes.Store)) return ExitCodes.Failed;
        var (node, first) = failures.OrderBy(f => f.Node, StringComparer.Ordinal).First();
        var more = failures.Count > 1 ? $" (and {failures.Count - 1} more node(s))" : "";
        WriteLines($"node {node} failed: {first!.What}{more}", first.Hint);
        return ExitCodes.Store;
    }

    /// <summary>Prints <paramref name="e"/> on stderr and returns the exit code.</summary>
    public static int Write(Exception e, bool verbose)
    {
        var failure = Classify(e);
        var head = failure is null ? $"unexpected {e.GetType().Name} (a bug; please report it with this output): {e.Message}" : failure.What;
        WriteLines(head, failure?.Hint);
        if (failure is null || verbose) Console.Error.WriteLine(e);
        return failure?.ExitCode ?? ExitCodes.Failed;
    }

    private static void WriteLines(string head, string? hint)
    {
        // Colour on a terminal; plain, unwrapped lines when redirected (logs, CI, tests).
        if (Console.IsErrorRedirected) Console.Error.WriteLine("error: " + head);
        else AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }).MarkupLine($"[red]error:[/] {Markup.Escape(head)}");
        if (hint is not null) Console.Error.WriteLine("  " + hint);
    }
}

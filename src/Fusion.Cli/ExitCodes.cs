namespace Fusion.Cli;

/// <summary>The exit codes of `fusion` (documented in docs/engine.md, "Errors and exit codes").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A stage failed (the run table names the node and its error), or an unexpected error (printed with its stack).</summary>
    public const int Failed = 1;
    /// <summary>Bad input: command line, pipeline file, params, an unknown run or node.</summary>
    public const int Usage = 2;
    /// <summary>The store or the network: unreachable, refused (credentials, permissions), read-only, full, or a damaged document in it.</summary>
    public const int Store = 3;
    /// <summary>Stopped by Ctrl-C or SIGTERM (the next run resumes).</summary>
    public const int Interrupted = 130;
}

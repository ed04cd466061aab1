namespace Fusion.Worker.Distributed;

/// <summary>The storage account behind a task hub did not answer (refused, unresolvable, timed out).</summary>
public sealed class TaskHubUnreachableException(string hub, Uri endpoint, Exception inner)
    : IOException($"task hub '{hub}' could not be reached at {endpoint.GetLeftPart(UriPartial.Path)}: {Reason(inner)}", inner)
{
    public Uri Endpoint { get; } = endpoint;

    // Azure's retry wrapper repeats every attempt's message; the innermost transport error says it once.
    private static string Reason(Exception e)
    {
        if (e is AggregateException { InnerExceptions.Count: > 0 } all) e = all.InnerExceptions[^1];
        while (e.InnerException is { } inner && e is not System.Net.Sockets.SocketException) e = inner;
        return e.Message;
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Fusion.Tests.Worker;

/// <summary>An HTTP endpoint on loopback that answers with the given status codes in turn (then the last one) and keeps the bodies.</summary>
public sealed class LoopbackWebhook : IDisposable
{
    private readonly HttpListener listener;
    private readonly int[] statuses;
    private int served;
    public ConcurrentQueue<string> Bodies { get; } = new();
    public string Url { get; }
    public int Requests => served;

    public LoopbackWebhook(params int[] statuses)
    {
        this.statuses = statuses.Length > 0 ? statuses : [200];
        // HttpListener cannot bind port 0: take a free port, and another one if a parallel test took it meanwhile.
        for (var attempt = 1; ; attempt++)
        {
            using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); Url = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}/hook/"; }
            listener = new HttpListener();
            listener.Prefixes.Add(Url);
            try { listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 5) { listener.Close(); }
        }
        _ = Task.Run(ServeAsync);
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await listener.GetContextAsync(); } catch (Exception) { return; }
            using (var reader = new StreamReader(ctx.Request.InputStream)) Bodies.Enqueue(await reader.ReadToEndAsync());
            var n = Interlocked.Increment(ref served);
            ctx.Response.StatusCode = statuses[Math.Min(n, statuses.Length) - 1];
            ctx.Response.Close();
        }
    }

    public void Dispose() => listener.Close();
}

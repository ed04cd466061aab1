using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Fusion.Tests.Datasets;

/// <summary>What the server does with one request (null: serve normally).</summary>
public abstract record Fault
{
    /// <summary>Send the headers and this many body bytes, then reset the connection (TCP RST).</summary>
    public sealed record ResetAfter(int Bytes) : Fault;
    /// <summary>Answer with this status and no body.</summary>
    public sealed record Status(int Code) : Fault;
    /// <summary>Send the headers and this many body bytes, then go silent for a while (a stalled connection).</summary>
    public sealed record StallAfter(int Bytes, TimeSpan For) : Fault;
    /// <summary>Serve this content instead of the real file (with a consistent Content-Length).</summary>
    public sealed record Serve(byte[] Content) : Fault;
    /// <summary>Answer 302 Found with this Location.</summary>
    public sealed record Redirect(Uri Location) : Fault;
}

/// <summary>One request as the server read it; <see cref="Authorization"/> is its Authorization header, if any.</summary>
public sealed record ServedRequest(string Path, long? RangeStart, string? Authorization = null);

/// <summary>
/// A real HTTP/1.1 server on a free loopback port (TcpListener; one request per connection) serving in-memory files
/// with range support, and faults chosen per request by the test.
/// </summary>
public sealed class LocalHttpServer : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;
    public ConcurrentDictionary<string, byte[]> Files { get; } = new();
    public ConcurrentQueue<ServedRequest> Requests { get; } = new();
    /// <summary>Chooses a fault from (path, how many times this path was requested before).</summary>
    public Func<string, int, Fault?> Faults { get; set; } = (_, _) => null;

    public LocalHttpServer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoop);
    }

    public Uri Url(string path) => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/{path.TrimStart('/')}");

    public int Count(string path) => Requests.Count(r => r.Path == "/" + path.TrimStart('/'));

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => Handle(socket));
        }
    }

    async Task Handle(Socket socket)
    {
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var header = new StringBuilder();
            var one = new byte[1];
            while (!header.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one) == 0) return;
                header.Append((char)one[0]);
            }
            var lines = header.ToString().Split("\r\n");
            var path = lines[0].Split(' ')[1];
            long? rangeStart = null;
            string? authorization = null;
            foreach (var l in lines.Skip(1))
                if (l.StartsWith("Range: bytes=", StringComparison.OrdinalIgnoreCase))
                    rangeStart = long.Parse(l["Range: bytes=".Length..].Split('-')[0]);
                else if (l.StartsWith("Authorization: ", StringComparison.OrdinalIgnoreCase))
                    authorization = l["Authorization: ".Length..];
            var previous = Requests.Count(r => r.Path == path);
            Requests.Enqueue(new ServedRequest(path, rangeStart, authorization));
            var fault = Faults(path.TrimStart('/'), previous);
            if (fault is Fault.Status s) { await Send(stream, $"HTTP/1.1 {s.Code} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", ReadOnlyMemory<byte>.Empty); return; }
            if (fault is Fault.Redirect to) { await Send(stream, $"HTTP/1.1 302 Found\r\nLocation: {to.Location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", ReadOnlyMemory<byte>.Empty); return; }
            if (!Files.TryGetValue(path.TrimStart('/'), out var content))
            {
                await Send(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", ReadOnlyMemory<byte>.Empty);
                return;
            }
            if (fault is Fault.Serve serve) content = serve.Content;
            var start = rangeStart ?? 0;
            var body = content.AsMemory((int)start);
            var head = rangeStart is null
                ? $"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"
                : $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{content.Length - 1}/{content.Length}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            if (fault is Fault.ResetAfter reset)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                await stream.WriteAsync(body[..Math.Min(reset.Bytes, body.Length)]);
                await stream.FlushAsync();
                await Task.Delay(50);
                socket.LingerState = new LingerOption(true, 0); // close with RST: a connection reset mid-file
                socket.Close();
                return;
            }
            if (fault is Fault.StallAfter stallFault)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                await stream.WriteAsync(body[..Math.Min(stallFault.Bytes, body.Length)]);
                await stream.FlushAsync();
                await Task.Delay(stallFault.For);
                return;
            }
            await Send(stream, head, body);
        }
        catch (IOException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        finally { socket.Dispose(); }
    }

    static async Task Send(Stream s, string head, ReadOnlyMemory<byte> body)
    {
        await s.WriteAsync(Encoding.ASCII.GetBytes(head));
        await s.WriteAsync(body);
        await s.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}

using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fusion.Tests.Support;

namespace Fusion.Tests.Report;

/// <summary>What a page did in the browser: every error it reported (script exceptions, console errors, failed loads,
/// refused requests) and a screenshot of the whole page.</summary>
public sealed record PageVisit(IReadOnlyList<string> Errors, byte[] Screenshot);

/// <summary>
/// Opens a page in Debian's headless Chromium and watches it over the DevTools protocol (a plain WebSocket):
/// Runtime exceptions and console errors, and the Log domain, where Chromium reports images that failed to load and
/// requests a Content-Security-Policy refused.
/// </summary>
public static partial class HeadlessChromium
{
    public static string? Executable() =>
        new[] { "chromium", "chromium-browser" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    public static async Task<PageVisit> VisitAsync(string file, int width, int height, TimeSpan timeout)
    {
        var exe = Executable() ?? throw new InvalidOperationException(
            "chromium is not installed: `bash infra/setup.sh test` (which `./fusion test` runs) installs Debian's chromium package");
        using var cts = new CancellationTokenSource(timeout);
        var ct = cts.Token;
        using var profile = new TempDir();
        var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--remote-debugging-port=0",
                     $"--user-data-dir={profile.Path}", $"--window-size={width},{height}", "about:blank" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var log = new StringBuilder();
        var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { endpoint.TrySetException(new InvalidOperationException($"chromium exited before DevTools listened:\n{log}")); return; }
            lock (log) log.AppendLine(e.Data);
            if (DevToolsLine().Match(e.Data) is { Success: true } m) endpoint.TrySetResult(m.Groups[1].Value);
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var port = await endpoint.Task.WaitAsync(ct);
            using var http = new HttpClient();
            var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list", ct))!.AsArray();
            var page = targets.First(t => (string?)t!["type"] == "page")!;
            await using var session = await DevToolsSession.ConnectAsync(new Uri((string)page["webSocketDebuggerUrl"]!), ct);
            await session.SendAsync("Runtime.enable", null, ct);
            await session.SendAsync("Log.enable", null, ct);
            await session.SendAsync("Page.enable", null, ct);
            await session.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, ct);
            var navigated = await session.SendAsync("Page.navigate", new JsonObject { ["url"] = new Uri(Path.GetFullPath(file)).AbsoluteUri }, ct);
            if (navigated["errorText"] is { } navError) session.Errors.Add($"navigation: {navError}");
            await session.LoadEvent.WaitAsync(ct);
            await Task.Delay(500, ct);   // errors reported just after the load event (late images, timers)
            var metrics = await session.SendAsync("Page.getLayoutMetrics", null, ct);
            var contentHeight = Math.Min(16_000, Math.Ceiling((double)metrics["cssContentSize"]!["height"]!));
            var shot = await session.SendAsync("Page.captureScreenshot", new JsonObject
            {
                ["format"] = "png", ["captureBeyondViewport"] = true,
                ["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = width, ["height"] = Math.Max(height, contentHeight), ["scale"] = 1 },
            }, ct);
            lock (session.Errors) return new PageVisit([.. session.Errors], Convert.FromBase64String((string)shot["data"]!));
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            lock (log) throw new TimeoutException($"chromium did not finish with {file} within {timeout}; its log:\n{log}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    [GeneratedRegex(@"DevTools listening on ws://[^:]+:(\d+)/")]
    private static partial Regex DevToolsLine();

    /// <summary>One DevTools WebSocket: commands matched to replies by id, error events collected as they come.</summary>
    private sealed class DevToolsSession : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private readonly Dictionary<int, TaskCompletionSource<JsonNode>> _pending = [];
        private readonly TaskCompletionSource _load = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task _reader = Task.CompletedTask;
        private int _nextId;

        public List<string> Errors { get; } = [];
        public Task LoadEvent => _load.Task;

        public static async Task<DevToolsSession> ConnectAsync(Uri uri, CancellationToken ct)
        {
            var s = new DevToolsSession();
            s._socket.Options.KeepAliveInterval = TimeSpan.Zero;
            await s._socket.ConnectAsync(uri, ct);
            s._reader = Task.Run(s.ReadAsync, CancellationToken.None);
            return s;
        }

        public async Task<JsonNode> SendAsync(string method, JsonObject? parameters, CancellationToken ct)
        {
            var reply = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
            int id;
            lock (_pending) { id = ++_nextId; _pending[id] = reply; }
            var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
            await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, ct);
            return await reply.Task.WaitAsync(ct);
        }

        private async Task ReadAsync()
        {
            var buffer = new byte[1 << 16];
            using var message = new MemoryStream();
            try
            {
                while (_socket.State == WebSocketState.Open)
                {
                    var r = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    message.Write(buffer, 0, r.Count);
                    if (!r.EndOfMessage) continue;
                    Handle(JsonNode.Parse(message.ToArray())!);
                    message.SetLength(0);
                }
            }
            catch (WebSocketException) { }   // the browser went away; pending commands time out with the caller's token
        }

        private void Handle(JsonNode msg)
        {
            if (msg["id"] is { } idNode)
            {
                TaskCompletionSource<JsonNode>? reply;
                lock (_pending) _pending.Remove((int)idNode, out reply);
                if (msg["error"] is { } error) reply?.TrySetException(new InvalidOperationException($"DevTools: {error.ToJsonString()}"));
                else reply?.TrySetResult(msg["result"] ?? new JsonObject());
                return;
            }
            var p = msg["params"];
            string? found = (string?)msg["method"] switch
            {
                "Page.loadEventFired" => Loaded(),
                "Runtime.exceptionThrown" => "exception: " + ((string?)p?["exceptionDetails"]?["exception"]?["description"] ?? (string?)p?["exceptionDetails"]?["text"]),
                "Runtime.consoleAPICalled" when (string?)p?["type"] is "error" or "assert" =>
                    "console: " + string.Join(" ", p!["args"]!.AsArray().Select(a => (string?)a?["value"] ?? (string?)a?["description"])),
                "Log.entryAdded" when (string?)p?["entry"]?["level"] == "error" => $"log ({(string?)p!["entry"]!["source"]}): {(string?)p["entry"]!["text"]} {(string?)p["entry"]!["url"]}",
                _ => null,
            };
            if (found is not null) lock (Errors) Errors.Add(found);
        }

        private string? Loaded() { _load.TrySetResult(); return null; }

        public async ValueTask DisposeAsync()
        {
            using var closing = new CancellationTokenSource(2000);
            try { await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", closing.Token); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
            await _reader;
            _socket.Dispose();
        }
    }
}

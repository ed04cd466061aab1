using PuppeteerSharp;

namespace Fusion.Tests.Report;

/// <summary>What a page did in the browser: every error it reported (script exceptions, console errors, failed loads,
/// refused requests) and a screenshot of the whole page.</summary>
public sealed record PageVisit(IReadOnlyList<string> Errors, byte[] Screenshot);

/// <summary>
/// Opens a page in Debian's headless Chromium, driven by PuppeteerSharp (which never downloads a browser here: it is
/// given the installed one), and collects what went wrong: script exceptions, console errors, failed requests, and the
/// DevTools Log domain, where Chromium reports requests a Content-Security-Policy refused.
/// </summary>
public static class HeadlessChromium
{
    public static string? Executable() =>
        new[] { "chromium", "chromium-browser" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    public static async Task<PageVisit> VisitAsync(string file, int width, int height, TimeSpan timeout)
    {
        var exe = Executable() ?? throw new InvalidOperationException(
            "chromium is not installed: `bash infra/setup.sh test` (which `./fusion test` runs) installs Debian's chromium package");
        var options = new LaunchOptions
        {
            ExecutablePath = exe, Headless = true, Timeout = (int)timeout.TotalMilliseconds,
            Args = ["--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"],
        };
        await using var browser = await Puppeteer.LaunchAsync(options);
        await using var page = await browser.NewPageAsync();
        page.DefaultTimeout = (int)timeout.TotalMilliseconds;
        var errors = new List<string>();
        void Add(string error) { lock (errors) errors.Add(error); }
        page.PageError += (_, e) => Add("exception: " + e.Message);
        page.Console += (_, e) => { if (e.Message.Type is ConsoleType.Error or ConsoleType.Assert) Add("console: " + e.Message.Text); };
        page.RequestFailed += (_, e) => Add($"request failed: {e.Request.Url} ({e.Request.FailureText})");
        page.Client.MessageReceived += (_, e) =>
        {
            if (e.MessageID != "Log.entryAdded") return;
            var entry = e.MessageData.GetProperty("entry");
            if (entry.GetProperty("level").GetString() == "error")
                Add($"log ({entry.GetProperty("source").GetString()}): {entry.GetProperty("text").GetString()} {(entry.TryGetProperty("url", out var url) ? url.GetString() : "")}");
        };
        await page.Client.SendAsync("Log.enable");
        await page.SetViewportAsync(new ViewPortOptions { Width = width, Height = height });
        try
        {
            await page.GoToAsync(new Uri(Path.GetFullPath(file)).AbsoluteUri, new NavigationOptions { WaitUntil = [WaitUntilNavigation.Load] });
        }
        catch (NavigationException e) { Add($"navigation: {e.Message}"); }
        await Task.Delay(500);   // errors reported just after the load event (late images, timers)
        var contentHeight = Math.Min(16_000, await page.EvaluateExpressionAsync<double>("Math.ceil(document.documentElement.scrollHeight)"));
        var shot = await page.ScreenshotDataAsync(new ScreenshotOptions
        {
            Type = ScreenshotType.Png, CaptureBeyondViewport = true,
            Clip = new PuppeteerSharp.Media.Clip { X = 0, Y = 0, Width = width, Height = (decimal)Math.Max(height, contentHeight), Scale = 1 },
        });
        lock (errors) return new PageVisit([.. errors], shot);
    }
}

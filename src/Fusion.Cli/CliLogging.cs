using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Fusion.Cli;

/// <summary>
/// Log lines for the terminal: through Spectre.Console when interactive (so they print above the progress bars),
/// plain "time level category: message" lines on stderr otherwise. An error's stack trace only at Debug (-v).
/// </summary>
public sealed class CliLoggerProvider(bool interactive, LogLevel minimum) : ILoggerProvider
{
    private readonly Lock gate = new();

    private LogLevel Minimum => minimum;

    public ILogger CreateLogger(string categoryName) => new CliLogger(this, categoryName);

    public void Dispose() { }

    private void Write(LogLevel level, string category, string message, Exception? error)
    {
        if (level < minimum) return;
        var tag = level switch { LogLevel.Warning => "warn", LogLevel.Error or LogLevel.Critical => "fail", LogLevel.Debug or LogLevel.Trace => "dbug", _ => "info" };
        // A failure's stack is for -v (which logs at Debug); without it the exception's type and message say what failed.
        var detail = error is null || level < LogLevel.Error ? "" : minimum <= LogLevel.Debug ? Environment.NewLine + error : $": {error.GetType().Name}: {error.Message}";
        lock (gate)
        {
            if (interactive)
            {
                var color = level switch { LogLevel.Warning => "yellow", >= LogLevel.Error => "red", _ => "grey" };
                AnsiConsole.MarkupLine($"[{color}]{DateTime.Now:HH:mm:ss} {tag}[/] [blue]{Markup.Escape(category)}[/] {Markup.Escape(message + detail)}");
            }
            else Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {tag} {category}: {message}{detail}");
        }
    }

    private sealed class CliLogger(CliLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.Minimum;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Write(logLevel, category, formatter(state, exception), exception);
    }
}

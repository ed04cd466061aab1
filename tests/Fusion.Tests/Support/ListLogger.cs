using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Fusion.Tests.Support;

/// <summary>A logger provider that keeps every formatted line, so tests can look at what was logged.</summary>
public sealed class ListLogger(ConcurrentQueue<string> lines) : ILoggerProvider, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        lines.Enqueue(formatter(state, exception));
    public void Dispose() { }
}

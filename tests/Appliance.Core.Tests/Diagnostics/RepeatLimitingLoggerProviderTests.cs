using Appliance.Core.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Tests.Diagnostics;

/// <summary>Identical warnings and errors reach the log once per interval, the
/// next with the count held back; other messages and lower levels pass untouched.</summary>
public sealed class RepeatLimitingLoggerProviderTests
{
    [Fact]
    public void IdenticalWarningsAreHeldBackAndCounted()
    {
        var sink = new Sink();
        using var provider = new RepeatLimitingLoggerProvider(sink, TimeSpan.FromMilliseconds(300));
        var logger = provider.CreateLogger("cube.agent");
        for (var i = 0; i < 50; i++)
        {
            logger.LogWarning("refused activate: not staged");
            logger.LogInformation("request");                  // information: never limited
        }

        logger.LogWarning("refused stage: bad body");           // another text: its own line
        logger.LogError("refused activate: not staged");        // same text as an error: its own line
        provider.CreateLogger("cube.other").LogWarning("refused activate: not staged"); // another category
        Assert.Equal(["refused activate: not staged", "refused stage: bad body", "refused activate: not staged", "refused activate: not staged"], sink.Lines.Where(l => l.StartsWith("refused", StringComparison.Ordinal)));
        Assert.Equal(50, sink.Lines.Count(l => l.StartsWith("request", StringComparison.Ordinal)));

        Thread.Sleep(400);
        logger.LogWarning("refused activate: not staged");
        Assert.Equal("refused activate: not staged [49 identical message(s) held back]", sink.Lines[^1]);
        logger.LogWarning("refused activate: not staged");
        Assert.Equal("refused activate: not staged [49 identical message(s) held back]", sink.Lines[^1]); // held again
    }

    private sealed class Sink : ILoggerProvider, ILogger
    {
        public List<string> Lines { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}

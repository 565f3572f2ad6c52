using System.Text.Json;
using Appliance.Core.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Appliance.Core.Tests.Hosting;

/// <summary>Whatever a route throws becomes an HTTP 500 with a JSON error, counted, and logged once
/// per interval however often it repeats.</summary>
public sealed class HttpErrorsTests
{
    private sealed class Lines : ILogger
    {
        public List<string> Logged { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Logged.Add(formatter(state, exception));
    }

    [Fact]
    public async Task AThrowingRouteIsAJson500CountedAndLoggedOnce()
    {
        var log = new Lines();
        var errors = new HttpErrors(log);
        for (var i = 0; i < 20; i++)
        {
            var context = new DefaultHttpContext();
            context.Response.Body = new MemoryStream();
            await errors.InvokeAsync(context, _ => throw new InvalidOperationException("boom"));
            Assert.Equal(500, context.Response.StatusCode);
            Assert.Equal("application/json", context.Response.ContentType);
            context.Response.Body.Position = 0;
            using var body = JsonDocument.Parse(context.Response.Body);
            Assert.Contains("InvalidOperationException: boom", body.RootElement.GetProperty("error").GetString());
        }

        Assert.Equal(20, errors.Count);
        Assert.Single(log.Logged);
    }
}

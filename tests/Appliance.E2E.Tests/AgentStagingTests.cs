using System.Net.Http.Headers;
using System.Text.Json;

namespace Appliance.E2E.Tests;

/// <summary>
/// An agent whose transfer — or anyone
/// answering at its address — serves a bad manifest reports the staging as failed with the
/// field named, writes nothing outside its data directory, and never answers "staged".
/// </summary>
public sealed class AgentStagingTests
{
    private const string Token = "agent-staging-token-0123456789";

    [Theory]
    [InlineData("\"values\": null", "field values: missing")]
    [InlineData("\"values\": {\"file\": \"../../PWNED\", \"bytes\": 4, \"xxh128\": \"00\"}", "field values: '../../PWNED'")]
    [InlineData("\"values\": {\"file\": \"/tmp/PWNED\", \"bytes\": 4, \"xxh128\": \"00\"}", "field values: '/tmp/PWNED'")]
    [InlineData("\"values\": {\"file\": \"values.bin\", \"bytes\": 4, \"xxh128\": \"00\"}, \"patches\": [\"../x\"]", "field patches")]
    public async Task ABadManifestFailsTheStagingWithTheFieldNamed(string values, string expected)
    {
        using var dir = new TempDirectory();
        var reply = await StageAsync(dir, values);
        Assert.Equal("failed", reply.GetProperty("state").GetString());
        Assert.Contains(expected, reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("node", "100_100")));
        Assert.False(File.Exists(dir.Combine("PWNED")));
        Assert.False(File.Exists("/tmp/PWNED"));
        Assert.Empty(Directory.EnumerateFiles(dir.Combine("node"), "PWNED*", SearchOption.AllDirectories));
    }

    /// <summary>A transfer that sends more than the manifest says is cut off
    /// at the manifest's size (the agent used to write all of it), and a manifest larger than
    /// --max-package-gb is refused before any download.</summary>
    [Fact]
    public async Task DownloadsStopAtTheManifestsSizeAndTheAgentsCap()
    {
        using var dir = new TempDirectory();
        var reply = await StageAsync(dir, "\"values\": {\"file\": \"values.bin\", \"bytes\": 4, \"xxh128\": \"00\"}", valuesFileBytes: 8 << 20);
        Assert.Equal("failed", reply.GetProperty("state").GetString());
        Assert.Contains("sent more than the manifest's 4 bytes", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.All(Directory.EnumerateFiles(dir.Combine("node"), "*", SearchOption.AllDirectories), f => Assert.True(new FileInfo(f).Length <= 1024, $"{f}: {new FileInfo(f).Length} bytes"));

        using var dir2 = new TempDirectory();
        reply = await StageAsync(dir2, "\"values\": {\"file\": \"values.bin\", \"bytes\": 2147483648, \"xxh128\": \"00\"}", extraArgs: ["--max-package-gb", "1"]);
        Assert.Equal("failed", reply.GetProperty("state").GetString());
        Assert.Contains("takes at most 1073741824 (--max-package-gb)", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A symbolic link planted in the data dir does not lead the
    /// agent's writes elsewhere.</summary>
    [Fact]
    public async Task ASymbolicLinkInTheDataDirIsRefusedNotFollowed()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("node"));
        Directory.CreateDirectory(dir.Combine("elsewhere"));
        Directory.CreateSymbolicLink(dir.Combine("node", ".downloads"), dir.Combine("elsewhere"));
        var reply = await StageAsync(dir, "\"values\": {\"file\": \"values.bin\", \"bytes\": 4, \"xxh128\": \"00\"}");
        Assert.Equal("failed", reply.GetProperty("state").GetString());
        Assert.True(reply.GetProperty("error").GetString()!.Contains("is a symbolic link", StringComparison.Ordinal), reply.ToString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Combine("elsewhere")));
    }

    /// <summary>Serves a one-shard package whose manifest has <paramref name="values"/> from a
    /// static file server, starts an agent, asks it to stage, and returns its final reply.</summary>
    private static async Task<JsonElement> StageAsync(TempDirectory dir, string values, int valuesFileBytes = 0, string[]? extraArgs = null)
    {
        var shard = dir.Combine("transfer", "packages", "100_100", "emb_part0");
        Directory.CreateDirectory(shard);
        File.WriteAllText(Path.Combine(shard, "manifest.json"), $$"""
            {"format": 1, "dict": "emb", "shard": 0, "shard_count": 1, "version": "100", "base": "100", "mode": "base", "codec": "raw",
             "dimension": 0, "keys": 1, "patches": [], "index": {"file": "index.bin", "bytes": 4, "xxh128": "00"}, {{values}}}
            """);
        File.WriteAllBytes(Path.Combine(shard, "values.bin"), new byte[valuesFileBytes]);
        File.WriteAllBytes(Path.Combine(shard, "index.bin"), new byte[4]);
        File.WriteAllText(dir.Combine("token"), Token + "\n");
        using var transfer = new StaticFileServer(dir.Combine("transfer"));
        using var agent = ServerProcess.Start([.. new[] { "run", "--roles", "server,agent", "--bind", "127.0.0.1", "--port", "0", "--http-port", "0",
            "--data-dir", dir.Combine("node"), "--dict", "emb", "--shard", "0", "--transfer", $"http://127.0.0.1:{transfer.Port}", "--token-file", dir.Combine("token") }, .. extraArgs ?? []]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        JsonElement reply;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{agent.HttpPort}/agent/stage")
            {
                Content = new StringContent("{\"version\":\"100\",\"base\":\"100\",\"mode\":\"base\"}", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await http.SendAsync(request);
            reply = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            Assert.True(DateTime.UtcNow < deadline, reply.ToString());
            await Task.Delay(100);
        }
        while (reply.GetProperty("state").GetString() == "staging");

        return reply;
    }
}

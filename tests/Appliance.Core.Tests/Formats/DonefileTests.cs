using Appliance.Core.Formats;

namespace Appliance.Core.Tests.Formats;

public sealed class DonefileTests
{
    [Fact]
    public void LineMatchesKvToSeqfilePy()
    {
        var entry = new DonefileEntry("1562000400", "1562000400", "/data/1562000400/base");
        Assert.Equal("{\"id\": \"1562000400\", \"key\": \"1562000400\", \"input\": \"/data/1562000400/base\"}", entry.ToLine());
        Assert.True(entry.IsBase);
    }

    [Fact]
    public void ParsesGoodLinesReportsBadOnesAndIgnoresTheUnterminatedTail()
    {
        var text = string.Join("\n",
            "{\"id\":\"100\",\"key\":\"100\",\"input\":\"/in/100\"}",
            "this is not json",
            "{\"id\":\"101\",\"key\":\"100\"}",
            "{\"id\":\"10a\",\"key\":\"100\",\"input\":\"/x\"}",
            "[1,2]",
            "",
            "{\"id\": 102, \"key\": \"100\", \"input\": \"/in/102\"}",
            "{\"id\":\"103\",\"key\":\"100\",\"inp") ;
        var errors = new List<InputFormatException>();
        var entries = DonefileReader.Parse(text, "patch.txt", errors);
        Assert.Equal(["100", "102"], entries.Select(e => e.Id));
        Assert.Equal(7, entries[1].LineNumber);
        Assert.False(entries[1].IsBase);
        Assert.Collection(
            errors,
            e => Assert.StartsWith("patch.txt: line 2: not JSON", e.Message),
            e => Assert.Equal("patch.txt: line 3: missing field \"input\"", e.Message),
            e => Assert.StartsWith("patch.txt: line 4: field \"id\" = '10a' is not a version id", e.Message),
            e => Assert.StartsWith("patch.txt: line 5: expected a JSON object", e.Message));
    }

    [Fact]
    public void AppendWritesOneTerminatedLine()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("donefile", "base.txt");
        DonefileReader.Append(path, new DonefileEntry("1", "1", "/a"));
        DonefileReader.Append(path, new DonefileEntry("2", "2", "/b \"quoted\""));
        var errors = new List<InputFormatException>();
        var entries = DonefileReader.Read(path, errors);
        Assert.Empty(errors);
        Assert.Equal(["/a", "/b \"quoted\""], entries.Select(e => e.Input));
    }

    /// <summary>A line the transfer would skip (an id not newer than an earlier
    /// line's) is refused when written, naming the line that blocks it.</summary>
    [Fact]
    public void AppendRefusesALineTheTransferWouldSkip()
    {
        using var dir = new TempDirectory();
        var bases = dir.Combine("donefile", "base.txt");
        DonefileReader.Append(bases, new DonefileEntry("4000000000", "4000000000", "/future"));
        var e = Assert.Throws<InputFormatException>(() => DonefileReader.Append(bases, new DonefileEntry("1700000000", "1700000000", "/now")));
        Assert.Contains("line 1: id 4000000000 is not older than the new id 1700000000", e.Message, StringComparison.Ordinal);
        Assert.Single(File.ReadAllLines(bases));

        var patches = dir.Combine("donefile", "patch.txt");
        DonefileReader.Append(patches, new DonefileEntry("4000000001", "4000000000", "/p"));
        DonefileReader.Append(patches, new DonefileEntry("1700000001", "1700000000", "/q")); // another base's patches do not block
        Assert.Throws<InputFormatException>(() => DonefileReader.Append(patches, new DonefileEntry("1700000001", "1700000000", "/again")));
        Assert.Equal(2, File.ReadAllLines(patches).Length);
    }
}

using System.Text.RegularExpressions;

namespace Appliance.Core.Tests.Architecture;

/// <summary>
/// The rooms of src/Appliance.Core (one folder = one namespace) and which rooms each may use:
/// a one-way order (docs/architecture.md). The test reads every source file's <c>using</c> lines
/// and qualified names (<c>Storage.KeyHash</c>, <c>Core.Formats.X</c>), ignoring comments, and
/// fails on any use the table does not allow, so a cycle cannot creep back in. A new folder must
/// be added to the table.
/// </summary>
public sealed partial class NamespaceDependencyTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Buffers"] = ["Native"],
        ["Native"] = [],
        ["Diagnostics"] = ["Native", "Buffers"],
        ["Features"] = [],
        ["Workload"] = [],
        ["Formats"] = ["Buffers", "Native"],
        ["Hosting"] = ["Diagnostics", "Formats"],
        ["Storage"] = ["Formats", "Native", "Buffers", "Diagnostics"],
        ["Net"] = ["Buffers", "Diagnostics"],
        ["Protocol"] = ["Storage", "Net", "Buffers"],
        ["Brpc"] = ["Protocol", "Net", "Buffers"],
        ["Client"] = ["Protocol", "Storage", "Net", "Formats", "Buffers", "Diagnostics"],
        ["Resp"] = ["Protocol", "Storage", "Net", "Hosting", "Buffers", "Diagnostics"],
        ["Serving"] = ["Storage", "Protocol", "Brpc", "Resp", "Net", "Hosting", "Formats", "Diagnostics"],
        ["Proxy"] = ["Resp", "Serving", "Client", "Protocol", "Net", "Hosting", "Storage", "Diagnostics"],
        ["Control"] = ["Net", "Storage", "Formats", "Hosting", "Diagnostics", "Native"],
        ["Engine"] = ["Features", "Client", "Storage", "Protocol", "Net", "Formats", "Hosting", "Diagnostics"],
        ["Training"] = ["Engine", "Features", "Storage", "Formats", "Diagnostics"],
        ["Node"] = ["Serving", "Control", "Engine", "Proxy", "Hosting", "Client", "Storage", "Formats", "Diagnostics"],
    };

    [Fact]
    public void EveryRoomUsesOnlyTheRoomsBelowIt()
    {
        var root = Path.Combine(TestData.RepositoryRoot, "src", "Appliance.Core");
        var rooms = Directory.EnumerateDirectories(root).Select(Path.GetFileName).Where(d => d is not ("bin" or "obj")).ToList();
        Assert.Empty(rooms.Except(Allowed.Keys)); // a new folder needs its line in the table
        Assert.Empty(Directory.EnumerateFiles(root, "*.cs")); // every type lives in a room

        var violations = new List<string>();
        foreach (var room in rooms)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, room!), "*.cs", SearchOption.AllDirectories))
            {
                foreach (var used in UsedRooms(File.ReadAllText(file)))
                {
                    if (used != room && !Allowed[room!].Contains(used))
                    {
                        violations.Add($"{Path.GetRelativePath(root, file)} uses {used} ({room} may use: {string.Join(", ", Allowed[room!])})");
                    }
                }
            }
        }

        Assert.True(violations.Count == 0, string.Join("\n", violations.Distinct()));
    }

    [Fact]
    public void TheAllowedUsesFormNoCycle()
    {
        var done = new HashSet<string>();
        var path = new List<string>();
        foreach (var room in Allowed.Keys)
        {
            Visit(room, done, path);
        }
    }

    [Fact]
    public void TheReaderSeesUsingLinesAndQualifiedNamesButNotComments()
    {
        var source = """
            using System.Text;
            using Appliance.Core.Storage;
            /// <see cref="Engine.CtrEngine"/> in a comment
            var x = Formats.AtomicFile.Write(y); // Net.Connection
            var z = Core.Client.CubeClient.X + v.Engine.Model;
            """;
        Assert.Equal(["Client", "Formats", "Storage"], UsedRooms(source).Order());
    }

    private static HashSet<string> UsedRooms(string source)
    {
        var used = new HashSet<string>();
        foreach (var rawLine in source.Split('\n'))
        {
            var line = rawLine.TrimStart();
            if (line.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            var comment = line.IndexOf("//", StringComparison.Ordinal);
            if (comment >= 0 && !line[..comment].Contains('"', StringComparison.Ordinal))
            {
                line = line[..comment];
            }

            foreach (Match m in RoomReference().Matches(line))
            {
                if (Allowed.ContainsKey(m.Groups[1].Value))
                {
                    used.Add(m.Groups[1].Value);
                }
            }
        }

        return used;
    }

    private static void Visit(string room, HashSet<string> done, List<string> path)
    {
        if (done.Contains(room))
        {
            return;
        }

        Assert.False(path.Contains(room), $"cycle: {string.Join(" → ", path)} → {room}");
        path.Add(room);
        foreach (var next in Allowed[room])
        {
            Visit(next, done, path);
        }

        path.RemoveAt(path.Count - 1);
        done.Add(room);
    }

    // "using Appliance.Core.X", "Appliance.Core.X.", "Core.X." and a bare "X.Type" (not "a.X.")
    [GeneratedRegex(@"(?:^using\s+Appliance\.Core\.|(?<![\w.])(?:Appliance\.Core\.|Core\.)?)([A-Z][A-Za-z]+)(?=[.;])")]
    private static partial Regex RoomReference();
}

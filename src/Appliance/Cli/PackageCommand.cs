using System.Globalization;
using Appliance.Core.Formats;
using Appliance.Core.Storage;

namespace Appliance.Cli;

/// <summary>
/// <c>cube package info|verify PATH</c>: what a package holds, and a full verification of it.
/// PATH is one shard's directory (<c>&lt;dict&gt;_part&lt;i&gt;</c>, holding manifest.json) or a
/// whole version (<c>&lt;base&gt;_&lt;version&gt;</c>, holding every shard's directory).
/// <c>verify</c> checks every checksum, every record (well formed, reachable from the index at its
/// own offset, its row the codec's length, its key in this shard), every index slot, the counts,
/// and for a version that its shards are all there and agree. Exit 0 when sound, 1 with each
/// defect named (file and offset).
/// </summary>
internal static class PackageCommand
{
    private static readonly OptionSpec[] Options = [];

    public static int Run(string[] args)
    {
        var a = ParsedArgs.Parse(args, Options);
        if (a.HelpRequested || a.Positionals.Count != 2 || a.Positionals[0] is not ("info" or "verify"))
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube package info|verify PATH", "What a shard package (or every shard of a version) holds; verify checks checksums, index and records.", Options));
            Console.Out.WriteLine("""

                commands:
                  info PATH                    the manifest of a shard directory, or of every shard of a version directory
                  verify PATH                  hash every byte (never trusting .verified), check every record and index slot,
                                               and that a version's shards are all there and agree; exit 0 sound, 1 with each defect
                PATH: a shard directory (…/100_101/emb_part0) or a version directory (…/100_101)
                """);
            return a.HelpRequested ? 0 : 2;
        }

        var path = Path.GetFullPath(a.Positionals[1]);
        var shards = ShardDirectories(path);
        return a.Positionals[0] == "info" ? Info(shards) : Verify(path, shards);
    }

    /// <summary>The shard directories PATH names: itself, or every <c>*_part*</c> under it.</summary>
    private static List<string> ShardDirectories(string path)
    {
        if (File.Exists(Path.Combine(path, ShardLayout.ManifestFileName)))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new InputFormatException(path, "offset 0", "no such directory");
        }

        var shards = Directory.EnumerateDirectories(path).Where(d => File.Exists(Path.Combine(d, ShardLayout.ManifestFileName))).Order(StringComparer.Ordinal).ToList();
        return shards.Count > 0 ? shards : throw new InputFormatException(path, "offset 0", "neither a shard package (manifest.json) nor a version holding shard packages");
    }

    private static int Info(List<string> shards)
    {
        var w = Console.Out;
        foreach (var directory in shards)
        {
            var m = MappedShard.ReadManifest(directory);
            var lineage = m.IsBase ? "base" : $"delta of base {m.Base}" + (m.Patches.Count > 0 ? $" after patches {string.Join(", ", m.Patches)}" : string.Empty);
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{directory}"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  dict {m.Dict}  shard {m.Shard} of {m.ShardCount}  version {m.Version} ({lineage})"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  codec {m.Codec}  dimension {m.Dimension}  keys {m.Keys}  created {m.Created}"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {m.Index.File,-11} {m.Index.Bytes,14:N0} bytes  xxh128 {m.Index.Xxh128}"));
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {m.Values.File,-11} {m.Values.Bytes,14:N0} bytes  xxh128 {m.Values.Xxh128}"));
        }

        return 0;
    }

    private static int Verify(string path, List<string> shards)
    {
        var defects = new List<string>();
        var manifests = new List<ShardManifest>();
        foreach (var directory in shards)
        {
            try
            {
                // Every byte hashed, whatever .verified says: this is the check that trusts nothing.
                var shard = MappedShard.Open(directory, inMemory: false, trustStamp: false);
                try
                {
                    manifests.Add(shard.Manifest);
                    var found = shard.Audit();
                    defects.AddRange(found);
                    Console.Out.WriteLine(found.Count == 0
                        ? string.Create(CultureInfo.InvariantCulture, $"ok     {directory}: {shard.Manifest.Keys} keys; checksums, records and index verified")
                        : $"BAD    {directory}: {found.Count} defect(s)");
                }
                finally
                {
                    shard.Release();
                }
            }
            catch (InputFormatException e)
            {
                defects.Add(e.Message);
                Console.Out.WriteLine($"BAD    {directory}: {e.Message}");
            }
        }

        if (shards.Count > 1 || manifests is [{ ShardCount: > 1 }] && !File.Exists(Path.Combine(path, ShardLayout.ManifestFileName)))
        {
            defects.AddRange(VersionDefects(path, manifests));
        }

        foreach (var defect in defects)
        {
            Console.Error.WriteLine(defect);
        }

        Console.Out.WriteLine(defects.Count == 0 ? $"{path}: sound" : $"{path}: {defects.Count} defect(s)");
        return defects.Count == 0 ? 0 : 1;
    }

    /// <summary>A version's shards: all there, and of one dict, version, lineage and codec.</summary>
    private static IEnumerable<string> VersionDefects(string path, List<ShardManifest> manifests)
    {
        if (manifests.Count == 0)
        {
            yield break;
        }

        var first = manifests[0];
        foreach (var m in manifests.Skip(1))
        {
            if (m.Dict != first.Dict || m.Version != first.Version || m.Base != first.Base || m.ShardCount != first.ShardCount || m.Codec != first.Codec || m.Dimension != first.Dimension)
            {
                yield return $"{path}: shard {m.Shard} is {m.Dict} {m.Base}_{m.Version} ({m.ShardCount} shards, {m.Codec} × {m.Dimension}); shard {first.Shard} is {first.Dict} {first.Base}_{first.Version} ({first.ShardCount} shards, {first.Codec} × {first.Dimension})";
            }
        }

        var present = manifests.Select(m => m.Shard).ToHashSet();
        foreach (var missing in Enumerable.Range(0, first.ShardCount).Where(s => !present.Contains(s)))
        {
            yield return $"{path}: shard {missing} of {first.ShardCount} is missing";
        }
    }
}

using System.Globalization;
using Appliance.Core.Storage;

namespace Appliance.Core.Tests.Storage;

/// <summary>
/// Retention (<see cref="ShardStore.Retain"/>): once versions older than the last N activated need
/// not stay roll-backable, the base package is replaced by a fold holding it and such patches and
/// their packages are dropped (as the agent does). Driven like the agent: random activations and
/// rollbacks against a dictionary model, merges settled after each; every retained version serves
/// exactly, a version older than the base package holds is refused by name and changes nothing, a
/// restart from what is left on disk serves exactly, and the disk holds at most two copies of the
/// base (the base package and the live fold) plus the patches since the base package's fold.
/// </summary>
public sealed class RetentionTests
{
    private const int Patches = 40;

    private static string Id(int patch) => (100 + patch).ToString(CultureInfo.InvariantCulture);

    private static List<string> Ids(int through) => [.. Enumerable.Range(1, through).Select(Id)];

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(3, 6)]
    [InlineData(4, 12)]
    public void RetainedVersionsServeExactlyAndOlderPatchesLeaveTheDisk(int seed, int retain)
    {
        var random = new Random(seed);
        var (dir, output, states) = PatchMergeTests.Lineage(random, Patches);
        using (dir)
        {
            var newest = 0;
            var live = 0;
            List<int> activated = [0];
            IReadOnlyList<string> anchored = [];
            using (var table = new LocalTable(output, "test", [0], inMemory: seed % 2 == 0, mergeAfter: 1, foldAt: 20))
            {
                var store = table.Store(0);
                table.Apply("100", []);
                for (var step = 0; newest < Patches && step < 200; step++)
                {
                    var floor = Floor(activated, retain);
                    var oldest = anchored.Count == 0 ? 0 : int.Parse(anchored[^1], CultureInfo.InvariantCulture) - 100;
                    var context = $"seed {seed}, step {step}, live 100+{live}, floor {floor}, base holds {anchored.Count}";
                    if (oldest > 0 && random.Next(8) == 0)
                    {
                        // Older than the base package holds: refused by name, nothing changes.
                        var gone = random.Next(0, oldest);
                        var e = Assert.Throws<InvalidOperationException>(() => table.Apply("100", Ids(gone)));
                        Assert.Contains("no longer retained", e.Message, StringComparison.Ordinal);
                        Assert.Equal(Ids(live), store.Live!.Patches);
                        continue;
                    }

                    // A rollback reaches any retained version; otherwise the next patch goes live.
                    live = live > floor && random.Next(5) == 0 ? random.Next(Math.Max(floor, oldest), live) : ++newest;
                    table.Apply("100", Ids(live));
                    activated.Add(live);
                    Settle(store);
                    PatchMergeTests.AssertServes(store, states[live], context + " (live)");

                    // As the agent: retain after each activation (an anchor may be written in the
                    // background), drop what the base package holds (seen at the next activation).
                    floor = Floor(activated, retain);
                    table.Retain(0, floor == 0 ? "100" : Id(floor));
                    Settle(store);
                    anchored = table.Retain(0, floor == 0 ? "100" : Id(floor));
                    Drop(output, anchored);
                    Assert.True(anchored.Count <= floor, $"{context}: the base package holds {anchored.Count} patches, past the floor {floor}");
                    Assert.True(anchored.SequenceEqual(Ids(anchored.Count)), context);
                    Assert.Null(store.LastPromotionError);
                    PatchMergeTests.AssertServes(store, states[live], context + " (after retain)");
                    AssertDisk(output, anchored.Count, context);
                }

                Assert.True(store.Promotions > 0, $"seed {seed}: no fold was promoted over {Patches} patches with retain {retain}");
            }

            // A restart from what is left: the newest version, then the oldest retained.
            var held = anchored.Count;
            using (var restarted = new LocalTable(output, "test", [0], inMemory: false))
            {
                restarted.Apply("100", Ids(newest));
                PatchMergeTests.AssertServes(restarted.Store(0), states[newest], $"seed {seed}: restarted at 100+{newest}");
                restarted.Apply("100", Ids(held));
                PatchMergeTests.AssertServes(restarted.Store(0), states[held], $"seed {seed}: restarted, rolled back to the base package's own version 100+{held}");
            }
        }
    }

    /// <summary>The oldest of the last <paramref name="retain"/> versions activated (the transfer's
    /// rule); 0, the base, while fewer were.</summary>
    private static int Floor(List<int> activated, int retain)
    {
        var newest = activated.Distinct().OrderDescending().Take(retain).ToList();
        return newest.Count < retain ? 0 : newest[^1];
    }

    /// <summary>Patches the base package holds are dropped as the agent drops them: a load that
    /// still needed one would fail.</summary>
    private static void Drop(string output, IReadOnlyList<string> anchored)
    {
        foreach (var patch in anchored)
        {
            var directory = Path.Combine(output, $"100_{patch}");
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    /// <summary>Version packages (all built up front): the base and the patches after what it
    /// holds; folds: at most one beside it (the live one) — two copies of the base at most.</summary>
    private static void AssertDisk(string output, int held, string context)
    {
        var versions = Directory.GetDirectories(output, "100_*").Length;
        Assert.True(versions == 1 + Patches - held, $"{context}: {versions} version directories, expected the base and patches {held + 1}..{Patches}");
        var merged = Path.Combine(output, PatchMerger.DirectoryName, "test_part0");
        var folds = Directory.Exists(merged) ? Directory.GetDirectories(merged).Count(d => MappedShard.ReadManifest(d).IsBase) : 0;
        Assert.True(folds <= 1, $"{context}: {folds} folded bases beside the base package");
    }

    private static void Settle(ShardStore store)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((store.Merging || store.Live!.UnmergedLayers > store.MaxUnmerged) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(5);
        }
    }
}

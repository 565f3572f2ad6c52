using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Appliance.Core.Formats;
using Appliance.Core.Storage;
using Appliance.Core.Workload;

namespace Appliance.Cli;

/// <summary><c>cube kv dump|from-text|gen</c>: SequenceFile and text-table tools.</summary>
internal static class KvCommand
{
    private static readonly OptionSpec[] DumpOptions =
    [
        new("floats", "print values as float32 rows instead of hex", IsFlag: true),
        new("limit", "print at most N records", Meta: "N"),
    ];

    private static readonly OptionSpec[] FromTextOptions =
    [
        new("id", "version id of the new table (digits)", "now, unix seconds", Meta: "ID"),
        new("patch-of", "write a patch of base BASE (patch.txt) instead of a base (base.txt)", Meta: "BASE"),
        new("parts", "number of SequenceFiles to spread the records over (lets the builder parse in parallel)", "1", Meta: "N"),
        new("seed", "seed for the sync markers (reproducible files)", Meta: "S"),
    ];

    private static readonly OptionSpec[] GenOptions =
    [
        new("keys", "number of rows", Meta: "N"),
        new("dim", "floats per row (4 bytes each)", "10", Meta: "D"),
        new("seed", "random seed", "1", Meta: "S"),
        new("key-range", "draw keys from [0, M) without repeats instead of the whole uint64 range", Meta: "M"),
        new("out", "output: a text file (key<TAB>floats per line), or with --format seq a directory of SequenceFiles", Meta: "PATH"),
        new("format", "text, or seq (SequenceFiles part-NNNNN as a trainer writes them; much faster to write and to build from)", "text", Meta: "FORMAT"),
        new("parts", "with --format seq: SequenceFiles to spread the rows over", "8", Meta: "N"),
        new("key-scheme", "random, or index: row i holds a key computed from i (IndexedKeys), so `cube bench lookup --indexed-keys N` can draw any row without a key list", "random", Meta: "SCHEME"),
    ];

    public static int Run(string[] args)
    {
        var sub = args.Length > 0 ? args[0] : "--help";
        var rest = args.Length > 0 ? args[1..] : [];
        return sub switch
        {
            "dump" => Dump(rest),
            "from-text" => FromText(rest),
            "gen" => Gen(rest),
            "--help" or "-h" or "help" => Help(0),
            var other => throw new UsageException($"unknown subcommand '{other}' (dump, from-text, gen; cube kv --help)"),
        };
    }

    private static int Help(int exit)
    {
        Console.Out.WriteLine("""
            usage: cube kv dump FILE [--floats] [--limit N]
                   cube kv from-text IN OUT_DIR [--id ID] [--patch-of BASE] [--parts N]
                   cube kv gen --keys N --out FILE [--dim D] [--seed S] [--key-range M]

            SequenceFile and text-table tools. `cube kv SUBCOMMAND --help` for each one's options.
            """);
        return exit;
    }

    private static int Dump(string[] args)
    {
        var a = ParsedArgs.Parse(args, DumpOptions);
        if (a.HelpRequested || a.Positionals.Count != 1)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube kv dump FILE [--floats] [--limit N]", "Prints every record of a SequenceFile as KEY<TAB>VALUE (hex, or floats).", DumpOptions));
            return a.HelpRequested ? 0 : 2;
        }

        var floats = a.Flag("floats");
        var limit = a.Has("limit") ? a.Long("limit", 0) : long.MaxValue;
        using var reader = SequenceFileReader.Open(a.Positionals[0]);
        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
        long n = 0;
        while (n < limit && reader.MoveNext())
        {
            output.Write(reader.Key.ToString(CultureInfo.InvariantCulture));
            output.Write('\t');
            output.WriteLine(ValueText.Format(reader.Value, floats, ValueCodec.F32));
            n++;
        }

        output.Flush();
        Console.Error.WriteLine($"{reader.Path}: {n} record(s), key encoding {reader.KeyEncoding}, key class {reader.Header.KeyClass}");
        return 0;
    }

    private static int FromText(string[] args)
    {
        var a = ParsedArgs.Parse(args, FromTextOptions);
        if (a.HelpRequested || a.Positionals.Count != 2)
        {
            Console.Out.WriteLine(ParsedArgs.Usage(
                "cube kv from-text IN OUT_DIR [options]",
                "Converts a text table (key:value or key<TAB>floats lines) to SequenceFile(s) under OUT_DIR/<id>/base/\n(or patch/), then appends the donefile line {\"id\",\"key\",\"input\"} to OUT_DIR/donefile/base.txt\n(or patch.txt), like the original kv_to_seqfile.py. The line is appended only after the data is complete.",
                FromTextOptions));
            return a.HelpRequested ? 0 : 2;
        }

        var input = a.Positionals[0];
        var outRoot = Path.GetFullPath(a.Positionals[1]);
        var id = a.Has("id") ? a.Require("id") : VersionId.Now();
        var patchOf = a.Get("patch-of");
        if (!VersionId.IsValid(id))
        {
            throw new UsageException($"option --id: '{id}' is not a version id (1-19 digits)");
        }

        if (patchOf is not null && (!VersionId.IsValid(patchOf) || VersionId.Compare(id, patchOf) <= 0))
        {
            throw new UsageException($"option --patch-of: '{patchOf}' must be a version id older than --id {id}");
        }

        var parts = a.Int("parts", 1, 1024);
        int? seed = a.Has("seed") ? a.Int("seed") : null;
        var kind = patchOf is null ? "base" : "patch";
        var target = Path.Combine(outRoot, id, kind);
        if (Directory.Exists(target))
        {
            throw new UsageException($"{target} already exists; pick another --id");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var records = TextTableConverter.Convert(input, target, parts, seed);
        var entry = new DonefileEntry(id, patchOf ?? id, target);
        var donefile = Path.Combine(outRoot, "donefile", patchOf is null ? "base.txt" : "patch.txt");
        DonefileReader.Append(donefile, entry);
        Console.Out.WriteLine($"wrote {records} record(s) to {target} ({parts} file(s)); appended to {donefile}: {entry.ToLine()}");
        return 0;
    }

    private static int Gen(string[] args)
    {
        var a = ParsedArgs.Parse(args, GenOptions);
        if (a.HelpRequested)
        {
            Console.Out.WriteLine(ParsedArgs.Usage("cube kv gen --keys N --out FILE [options]", "Writes a random embedding table as text: key<TAB>f1 f2 ... per line.", GenOptions));
            return 0;
        }

        var count = a.Long("keys", 0);
        var dimension = a.Int("dim", 0, 1 << 20);
        var random = new Random(a.Int("seed"));
        var range = a.Has("key-range") ? a.Long("key-range", 1) : 0;
        if (range > 0 && range < count)
        {
            throw new UsageException($"option --key-range {range} is smaller than --keys {count}");
        }

        var indexed = (a.Has("key-scheme") ? a.Require("key-scheme") : "random") switch
        {
            "random" => false,
            "index" => true,
            var other => throw new UsageException($"option --key-scheme: '{other}' is not random or index"),
        };
        if (indexed && range > 0)
        {
            throw new UsageException("--key-scheme index and --key-range choose keys two ways: give one");
        }

        var seen = range > 0 ? new HashSet<long>() : null;
        var path = a.Require("out");
        switch (a.Require("format"))
        {
            case "seq":
                return GenSequenceFiles(path, count, dimension, a.Int("parts", 1, 4096), a.Int("seed"), range, seen, indexed);
            case "text":
                break;
            case var other:
                throw new UsageException($"option --format: '{other}' is not text or seq");
        }

        using var output = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        Span<byte> keyBytes = stackalloc byte[8];
        var line = new StringBuilder();
        for (long i = 0; i < count; i++)
        {
            ulong key;
            if (indexed)
            {
                key = Core.Workload.IndexedKeys.Of(i);
            }
            else if (seen is not null)
            {
                key = UniqueKey(random, range, seen);
            }
            else
            {
                random.NextBytes(keyBytes);
                key = BinaryPrimitives.ReadUInt64LittleEndian(keyBytes);
            }

            line.Clear();
            line.Append(key.ToString(CultureInfo.InvariantCulture)).Append('\t');
            for (var d = 0; d < dimension; d++)
            {
                if (d > 0)
                {
                    line.Append(' ');
                }

                line.Append(((float)(random.NextDouble() * 2 - 1)).ToString(CultureInfo.InvariantCulture));
            }

            output.WriteLine(line);
        }

        Console.Out.WriteLine($"wrote {count} row(s) of {dimension} floats to {path}");
        return 0;
    }

    /// <summary>A key from [0, <paramref name="range"/>) not drawn before (--key-range).</summary>
    private static ulong UniqueKey(Random random, long range, HashSet<long> seen)
    {
        long k;
        do
        {
            k = random.NextInt64(range);
        }
        while (!seen.Add(k));
        return (ulong)k;
    }

    /// <summary>Rows round-robin over <paramref name="parts"/> SequenceFiles in <paramref name="directory"/>;
    /// values from a xorshift generator (floats in [-1, 1)), so hundreds of millions of rows take
    /// as long as the disk needs, not as long as <see cref="Random.NextDouble"/> does.</summary>
    private static int GenSequenceFiles(string directory, long count, int dimension, int parts, int seed, long range, HashSet<long>? seen, bool indexed)
    {
        Directory.CreateDirectory(directory);
        var writers = Enumerable.Range(0, parts).Select(p => Core.Formats.SequenceFileWriter.Create(Path.Combine(directory, $"part-{p:D5}"), seed: seed + p)).ToArray();
        try
        {
            var random = new Random(seed);
            var state = (ulong)seed * 0x9E3779B97F4A7C15UL | 1;
            var value = new byte[dimension * 4];
            for (long i = 0; i < count; i++)
            {
                var key = indexed ? Core.Workload.IndexedKeys.Of(i) : seen is not null ? UniqueKey(random, range, seen) : Next(ref state);

                for (var d = 0; d < dimension; d++)
                {
                    var f = ((Next(ref state) >> 40) * (1.0f / (1 << 24)) * 2) - 1;
                    BinaryPrimitives.WriteSingleLittleEndian(value.AsSpan(d * 4), f);
                }

                writers[i % parts].Write(key, value);
            }
        }
        finally
        {
            foreach (var w in writers)
            {
                w.Dispose();
            }
        }

        Console.Out.WriteLine($"wrote {count} row(s) of {dimension} floats to {parts} SequenceFile(s) in {directory}");
        return 0;

        static ulong Next(ref ulong x)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            return x;
        }
    }
}

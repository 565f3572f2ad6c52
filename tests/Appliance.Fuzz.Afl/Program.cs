using Appliance.Fuzz.Tests;

// The afl-fuzz driver (scripts/fuzz.sh --afl): one target per process, the input on stdin.
//   Appliance.Fuzz.Afl TARGET               run under afl-fuzz (or once, on stdin, without it)
//   Appliance.Fuzz.Afl TARGET --seeds DIR   write the target's seed corpus into DIR
//   Appliance.Fuzz.Afl --list               the target names
// The invariant is the in-process fuzzer's (Fuzzer.Check): a violation is thrown, which SharpFuzz
// reports to afl-fuzz as a crash; afl-fuzz's own -t catches hangs. Instrumented code may run only
// inside Fuzzer.Run (it writes to afl's shared memory), so --list and --seeds are run on an
// uninstrumented build and the target is made inside the action.
if (args is ["--list"])
{
    foreach (var each in Targets.All())
    {
        Console.WriteLine(each.Target);
    }

    return 0;
}

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Appliance.Fuzz.Afl TARGET [--seeds DIR] | --list");
    return 2;
}

if (args is [var name, "--seeds", var directory])
{
    var fuzzer = Targets.Named(name);
    Directory.CreateDirectory(directory);
    var n = 0;
    foreach (var seed in fuzzer.Corpus)
    {
        File.WriteAllBytes(Path.Combine(directory, $"seed-{n++:D3}.bin"), seed);
    }

    return 0;
}

Fuzzer? target = null;
SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    target ??= Targets.Named(args[0]);
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    if (target.Check(copy.ToArray()) is { } violation)
    {
        throw new InvalidOperationException($"{target.Target}: {violation}");
    }
});
return 0;

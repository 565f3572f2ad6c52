using System.Globalization;
using System.Text;
using Appliance.Core.Protocol;
using Appliance.Core.Resp;

namespace Appliance.Core.Tests.Protocol;

/// <summary>
/// The GET/MGET fast path reads what the general reader reads, the same way, and nothing else:
/// a table of commands it takes and of commands it must leave to <see cref="RespReader"/>, and a
/// differential run over mutated commands (whatever it takes, the general reader reads to the
/// same end with the same keys).
/// </summary>
public sealed class KeyCommandScannerTests
{
    private const int MaxRequest = 1 << 20;

    [Theory]
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\n7\r\n", false, "7")]
    [InlineData("*2\r\n$3\r\nget\r\n$2\r\n42\r\n", false, "42")]
    [InlineData("*3\r\n$4\r\nMGET\r\n$1\r\n0\r\n$12\r\n000000999999\r\n", true, "0 999999")]
    [InlineData("*2\r\n$4\r\nmGeT\r\n$19\r\n9999999999999999999\r\n", true, "9999999999999999999")]
    [InlineData("*2\r\n$4\r\nMGET\r\n$5\r\n00012\r\nPING\r\n", true, "12")] // what follows is the next command's
    [InlineData("*4\r\n$4\r\nMGET\r\n$8\r\n12345678\r\n$16\r\n9876543210123456\r\n$17\r\n10000000000000001\r\n", true, "12345678 9876543210123456 10000000000000001")]
    public void ReadsGetAndMget(string request, bool many, string keys)
    {
        var input = Encoding.ASCII.GetBytes(request);
        var array = new ulong[1];
        var used = KeyCommandScanner.TryScan(input, MaxRequest, ref array, out var count, out var isMany);
        Assert.Equal(request.IndexOf("PING", StringComparison.Ordinal) is var p and >= 0 ? p : request.Length, used);
        Assert.Equal(many, isMany);
        Assert.Equal(keys.Split(' ').Select(k => ulong.Parse(k, CultureInfo.InvariantCulture)), array.Take(count));
    }

    [Theory]
    [InlineData("")]
    [InlineData("GET 1\r\n")]                              // inline: the general reader's
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\n7\r")]            // not whole yet
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\n")]
    [InlineData("*2\r\n$3\r\nGE")]
    [InlineData("*2\r")]
    [InlineData("*")]
    [InlineData("*3\r\n$3\r\nGET\r\n$1\r\n1\r\n$1\r\n2\r\n")] // GET of two keys: the general path's error
    [InlineData("*1\r\n$4\r\nMGET\r\n")]                    // MGET of none
    [InlineData("*2\r\n$4\r\nHGET\r\n$1\r\n1\r\n")]          // another command
    [InlineData("*2\r\n$3\r\nGEX\r\n$1\r\n1\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")]           // not a number
    [InlineData("*2\r\n$3\r\nGET\r\n$2\r\n-1\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$8\r\n1234:678\r\n")]  // ':' and '/' border the digits: in a chunk of eight
    [InlineData("*2\r\n$3\r\nGET\r\n$8\r\n/2345678\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$12\r\n1234567?9012\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$9\r\n12345678x\r\n")]  // and after one
    [InlineData("*2\r\n$3\r\nGET\r\n$0\r\n\r\n")]            // empty key
    [InlineData("*2\r\n$3\r\nGET\r\n$20\r\n18446744073709551615\r\n")] // 20 digits: the checked parser's
    [InlineData("*2\r\n$3\r\nGET\r\n$01\r\n1\r\n")]          // a length with a leading zero
    [InlineData("*02\r\n$3\r\nGET\r\n$1\r\n1\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n$1\r\n1\n\n")]           // no CRLF after the key
    [InlineData("*2\r\n$3\r\nGET\r\n:1\r\n")]                // not a bulk string
    [InlineData("*2\n$3\r\nGET\r\n$1\r\n1\r\n")]
    [InlineData("*9999999\r\n$4\r\nMGET\r\n$1\r\n1\r\n")]    // more arguments than the limit
    [InlineData("*100000\r\n$4\r\nMGET\r\n$1\r\n1\r\n")]     // arguments whose bytes have not come: no array for them
    public void LeavesEverythingElseToTheGeneralReader(string request)
    {
        var array = new ulong[1];
        Assert.Equal(0, KeyCommandScanner.TryScan(Encoding.ASCII.GetBytes(request), MaxRequest, ref array, out _, out _));
        Assert.Single(array);
    }

    [Fact]
    public void ACommandOverTheSizeLimitIsTheGeneralReadersToRefuse()
    {
        var input = Encoding.ASCII.GetBytes("*2\r\n$3\r\nGET\r\n$12\r\n123456789012\r\n");
        var array = new ulong[1];
        Assert.Equal(0, KeyCommandScanner.TryScan(input, input.Length - 1, ref array, out _, out _));
        Assert.Equal(input.Length, KeyCommandScanner.TryScan(input, input.Length, ref array, out _, out _));
    }

    [Fact]
    public void WhateverItTakesTheGeneralReaderReadsTheSame()
    {
        var random = new Random(20261206);
        var taken = 0;
        for (var round = 0; round < 20_000; round++)
        {
            var input = Mutate(random, Command(random), round % 4 == 0 ? 0 : 1 + random.Next(3));
            var array = new ulong[4];
            var used = KeyCommandScanner.TryScan(input, MaxRequest, ref array, out var count, out var many);
            if (used == 0)
            {
                continue;
            }

            taken++;
            var reader = new RespReader();
            Assert.Equal(ScanResult.Done, reader.TryRead(input, MaxRequest, out var consumed, out _, out _));
            Assert.Equal(consumed, used);
            var args = reader.Arguments;
            Assert.Equal(many ? "MGET" : "GET", Encoding.ASCII.GetString(input.AsSpan()[args[0]]).ToUpperInvariant());
            Assert.Equal(args.Count - 1, count);
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(ulong.Parse(input.AsSpan()[args[i + 1]], CultureInfo.InvariantCulture), array[i]);
            }
        }

        Assert.InRange(taken, 5_000, 20_000); // the unmutated quarter, and mutations that leave a valid command
    }

    private static byte[] Command(Random random)
    {
        var keys = random.Next(1, 12);
        var many = keys > 1 || random.Next(2) == 0;
        var text = new StringBuilder($"*{keys + 1}\r\n{(many ? "$4\r\nMGET" : "$3\r\nGET")}\r\n");
        for (var i = 0; i < keys; i++)
        {
            var key = random.Next(3) switch
            {
                0 => random.Next(10).ToString(CultureInfo.InvariantCulture),
                1 => ((ulong)random.NextInt64() * 2).ToString(CultureInfo.InvariantCulture) is var n ? n[..Math.Min(n.Length, random.Next(1, 20))] : "",
                _ => random.Next(1_000_000).ToString("D12", CultureInfo.InvariantCulture),
            };
            text.Append(CultureInfo.InvariantCulture, $"${key.Length}\r\n{key}\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static byte[] Mutate(Random random, byte[] command, int edits)
    {
        var bytes = command.ToList();
        const string Alphabet = "0123456789$*\r\nMGETmget-x ";
        for (var i = 0; i < edits && bytes.Count > 0; i++)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(3))
            {
                case 0: bytes[at] = (byte)Alphabet[random.Next(Alphabet.Length)]; break;
                case 1: bytes.RemoveAt(at); break;
                default: bytes.Insert(at, (byte)Alphabet[random.Next(Alphabet.Length)]); break;
            }
        }

        return [.. bytes];
    }
}

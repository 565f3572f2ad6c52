using Appliance.Core.Control.Transfer;
using Appliance.Core.Formats;

namespace Appliance.Core.Tests.Control.Transfer;

/// <summary>The events a sequence is made of, drawn at random, and how each changes the world.</summary>
public sealed partial class RolloutModelTests
{
    private enum Fault
    {
        /// <summary>Refuses (a bad checksum, a full disk): nothing happened.</summary>
        Refuse,

        /// <summary>Did it, but the reply came after the transfer's time limit: it counts as failed.</summary>
        LateReply,
    }

    private abstract record Event;

    /// <summary>First in every sequence: the transfer.conf it runs under (<see cref="OptionsFor"/>).</summary>
    private sealed record Configure(int Draw) : Event;

    private sealed record AddBase(bool Valid) : Event;

    /// <summary>A patch of the newest base (or, <paramref name="Orphan"/>, of a base no line has);
    /// not <paramref name="Valid"/>: an id older than the last patch of that base.</summary>
    private sealed record AddPatch(bool Valid, bool Orphan) : Event;

    /// <summary>A poll; <paramref name="Kill"/>: the transfer dies during staging (1) or
    /// activation (2) of what it deploys; <paramref name="PinWhileStaging"/>: an operator pins meanwhile.</summary>
    private sealed record Poll(int Kill = 0, bool PinWhileStaging = false) : Event;

    private sealed record Tick(int Seconds) : Event;

    private sealed record Pin : Event;

    private sealed record Unpin : Event;

    private sealed record Rollback(int Choice) : Event;

    private sealed record Abandon(int Choice) : Event;

    private sealed record Restart : Event;

    private sealed record AgentDown(int Shard, int Replica, int Polls) : Event;

    private sealed record AgentFault(int Shard, int Replica, Fault Fault) : Event;

    private static List<Event> Generate(Random random)
    {
        var events = new List<Event> { new Configure(random.Next(12)), new AddBase(true) };
        for (var i = 2; i < EventsPerSequence; i++)
        {
            events.Add(random.Next(100) switch
            {
                < 8 => new AddBase(random.Next(6) > 0),
                < 28 => new AddPatch(random.Next(8) > 0, random.Next(12) == 0),
                < 60 => new Poll(random.Next(10) switch { 0 => 1, 1 => 2, _ => 0 }, random.Next(20) == 0),
                < 66 => new Tick(random.Next(1, 60)),
                < 69 => new Pin(),
                < 73 => new Unpin(),
                < 78 => new Rollback(random.Next(1000)),
                < 82 => new Abandon(random.Next(1000)),
                < 86 => new Restart(),
                < 93 => new AgentDown(random.Next(Shards), random.Next(Replicas), random.Next(1, 4)),
                _ => new AgentFault(random.Next(Shards), random.Next(Replicas), (Fault)random.Next(2)),
            });
        }

        return events;
    }

    private static string? Apply(World world, Event e)
    {
        var state = world.State;
        switch (e)
        {
            case Configure configure:
                world.Options = OptionsFor(configure.Draw);
                return null;
            case AddBase add:
                var id = world.NewId();
                var lastBase = world.Bases.Count > 0 ? world.Bases[^1].Id : "100";
                world.Bases.Add(add.Valid ? new DonefileEntry(id, id, "in/" + id, world.Bases.Count + 1) : new DonefileEntry(lastBase, lastBase == "100" ? id : lastBase, "in/bad", world.Bases.Count + 1));
                return null;
            case AddPatch patch:
                var of = patch.Orphan ? "99" : world.Bases.Count > 0 ? world.Bases[^1].Key : "99";
                var older = world.Patches.Where(p => p.Key == of).Select(p => p.Id).LastOrDefault();
                var patchId = patch.Valid || older is null ? world.NewId() : older;
                world.Patches.Add(new DonefileEntry(patchId, of, "in/" + patchId, world.Patches.Count + 1));
                return null;
            case Tick tick:
                world.Now += tick.Seconds;
                return null;
            case Pin:
                RolloutSteps.Pin(state, world.Now);
                return null;
            case Unpin:
                RolloutSteps.Unpin(state, world.Now);
                return null;
            case Restart:
                world.State = TransferStateStore.Read(new TransferStateStore("unused").Serialize(state));
                RolloutSteps.Restarted(world.State);
                return null;
            case AgentDown down:
                world.Agents[down.Shard, down.Replica].DownPolls = down.Polls;
                return null;
            case AgentFault fault:
                world.Agents[fault.Shard, fault.Replica].Faults.Enqueue(fault.Fault);
                return null;
            case Rollback rollback:
                return RollbackOnce(world, rollback.Choice);
            case Abandon abandon:
                AbandonOnce(world, abandon.Choice);
                return null;
            case Poll poll:
                return PollOnce(world, poll);
            default:
                return null;
        }
    }
}

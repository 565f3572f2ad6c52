namespace Appliance.Core.Net;

/// <summary>
/// One port, several protocols: a connection's session is chosen by the first bytes its client
/// sends, as brpc does. Each alternative names its magic (the bytes every connection of that
/// protocol starts with); a connection whose first bytes match none gets the fallback, whose own
/// parser then answers bytes it does not understand as it always did. Until enough bytes have
/// arrived to tell (a prefix of some magic), nothing is consumed.
/// </summary>
internal sealed class FirstBytesSessionFactory(ISessionFactory fallback, params (byte[] Magic, ISessionFactory Sessions)[] alternatives) : ISessionFactory
{
    public ISession Create(IReplySink replies) => new Undecided(this, replies);

    private ISessionFactory Fallback => fallback;

    /// <summary>The factory for a connection that began with <paramref name="first"/>, or null
    /// while those bytes are a proper prefix of some magic.</summary>
    internal ISessionFactory? Choose(ReadOnlySpan<byte> first)
    {
        var undecided = false;
        foreach (var (magic, sessions) in alternatives)
        {
            if (first.Length >= magic.Length && first[..magic.Length].SequenceEqual(magic))
            {
                return sessions;
            }

            undecided |= first.Length < magic.Length && magic.AsSpan().StartsWith(first);
        }

        return undecided ? null : fallback;
    }

    /// <summary>The session of one connection: forwards everything to the chosen protocol's
    /// session once the first bytes have chosen it.</summary>
    private sealed class Undecided(FirstBytesSessionFactory factory, IReplySink replies) : ISession
    {
        private ISession? _chosen;

        public int BytesNeeded => _chosen?.BytesNeeded ?? 0;

        public bool Closing => _chosen?.Closing ?? false;

        public bool Paused => _chosen?.Paused ?? false;

        public ReadOnlyMemory<byte> Output => _chosen?.Output ?? ReadOnlyMemory<byte>.Empty;

        public int Receive(ReadOnlySpan<byte> input)
        {
            if (_chosen is null)
            {
                if (input.IsEmpty || factory.Choose(input) is not { } sessions)
                {
                    return 0;
                }

                _chosen = sessions.Create(replies);
            }

            return _chosen.Receive(input);
        }

        public Task WhenResumable() => _chosen?.WhenResumable() ?? Task.CompletedTask;

        public void ClearOutput() => _chosen?.ClearOutput();

        public void Idle() => _chosen?.Idle();

        public void Refuse(string reason)
        {
            // Only a request larger than the receive buffer is refused, and a session is chosen
            // before any request is known to be that large.
            _chosen ??= factory.Fallback.Create(replies);
            _chosen.Refuse(reason);
        }

        public Task DrainAsync(TimeSpan timeout) => _chosen?.DrainAsync(timeout) ?? Task.CompletedTask;
    }
}

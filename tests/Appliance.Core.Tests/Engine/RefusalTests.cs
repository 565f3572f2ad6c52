using Appliance.Core.Engine;
using Appliance.Core.Protocol;

namespace Appliance.Core.Tests.Engine;

/// <summary>Every refusal maps to one HTTP status (/predict and the Open Inference Protocol) and one
/// binary-protocol error code: a client's mistake is 400/BadRequest; what may pass (the table, a
/// shard) is 503/NotReady, which sends a client to another engine.</summary>
public sealed class RefusalTests
{
    [Theory]
    [InlineData(nameof(RefusalKind.BadRequest), 400, nameof(ErrorCode.BadRequest))]
    [InlineData(nameof(RefusalKind.OverLimit), 400, nameof(ErrorCode.BadRequest))]
    [InlineData(nameof(RefusalKind.NotReady), 503, nameof(ErrorCode.NotReady))]
    [InlineData(nameof(RefusalKind.TableMismatch), 503, nameof(ErrorCode.NotReady))]
    [InlineData(nameof(RefusalKind.ShardUnavailable), 503, nameof(ErrorCode.NotReady))]
    public void EachKindHasOneAnswerPerFrontDoor(string kind, int http, string wireCode)
    {
        var wire = Enum.Parse<ErrorCode>(wireCode);
        var refusal = new Refusal(Enum.Parse<RefusalKind>(kind), "why");
        Assert.Equal((http, wire), (refusal.HttpStatus, refusal.WireCode));
        PredictOutcome outcome = refusal;
        Assert.Null(outcome.Response);
        Assert.Equal(refusal, outcome.Refusal);
    }

    [Fact]
    public void EveryKindIsMapped() =>
        Assert.Equal(5, Enum.GetValues<RefusalKind>().Length); // a new kind: add its row above
}

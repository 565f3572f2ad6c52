using Appliance.Core.Protocol;

namespace Appliance.Core.Engine;

/// <summary>Why the engine did not score a request. Expected outcomes — a client's mistake, a
/// limit, a table not live yet — are values the engine returns, not exceptions its callers catch;
/// each front door maps them in one place (<see cref="HttpStatus"/>, <see cref="WireCode"/>).</summary>
internal enum RefusalKind
{
    /// <summary>The request is malformed or names what is not served (a variant).</summary>
    BadRequest,

    /// <summary>Over one of the engine's limits (samples per request).</summary>
    OverLimit,

    /// <summary>The table the model needs is not live on every shard yet, or the model changed
    /// during the request: ask again (another engine may answer).</summary>
    NotReady,

    /// <summary>The live table's rows do not fit the model (a dimension or codec the model does
    /// not take): readiness reports it until a matching table or model arrives.</summary>
    TableMismatch,

    /// <summary>A shard could not answer and the engine was told not to score without it
    /// (<c>--on-shard-failure error</c>).</summary>
    ShardUnavailable,
}

/// <summary>A refusal and the reason given to the client.</summary>
internal readonly record struct Refusal(RefusalKind Kind, string Message)
{
    /// <summary>HTTP's answer, for <c>/predict</c> and the Open Inference Protocol alike.</summary>
    public int HttpStatus => Kind is RefusalKind.BadRequest or RefusalKind.OverLimit ? 400 : 503;

    /// <summary>The binary protocol's answer.</summary>
    public ErrorCode WireCode => Kind is RefusalKind.BadRequest or RefusalKind.OverLimit ? ErrorCode.BadRequest : ErrorCode.NotReady;
}

/// <summary>What a predict request came to: the scores, or why not.</summary>
internal readonly record struct PredictOutcome(PredictResponse? Response, Refusal Refusal)
{
    public static implicit operator PredictOutcome(PredictResponse response) => new(response, default);

    public static implicit operator PredictOutcome(Refusal refusal) => new(null, refusal);
}

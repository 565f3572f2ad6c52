namespace Appliance.Core.Control.Transfer;

/// <summary>The answer to an operator command: an HTTP status and one line saying what happened.</summary>
internal sealed record OperatorResult(int HttpStatus, string Message)
{
    public bool Ok => HttpStatus is >= 200 and < 300;
}

namespace Appliance.Core.Control.Transfer;

/// <summary>What an operator can ask of the transfer (POST /transfer/&lt;action&gt;, <c>cube transfer</c>).</summary>
internal enum OperatorAction
{
    Rollback,
    Pin,
    Unpin,
    Abandon,
}

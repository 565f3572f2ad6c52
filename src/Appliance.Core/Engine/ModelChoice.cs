namespace Appliance.Core.Engine;

/// <summary>One model package the engine serves and its traffic weight (<c>--model DIR:WEIGHT</c>).</summary>
internal readonly record struct ModelChoice(string Directory, int Weight);

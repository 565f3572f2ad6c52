using System.Globalization;
using System.Text;

namespace Appliance.Core.Diagnostics;

/// <summary>Prometheus text exposition format 0.0.4: <c># HELP</c>, <c># TYPE</c>, then samples.</summary>
internal sealed class MetricsWriter
{
    private readonly StringBuilder _text = new();
    private readonly HashSet<string> _described = [];

    public void Counter(string name, string help, double value, string? labels = null) => Sample(name, "counter", help, value, labels);

    public void Gauge(string name, string help, double value, string? labels = null) => Sample(name, "gauge", help, value, labels);

    /// <summary>A histogram: cumulative <c>_bucket{le=…}</c> samples, then <c>_sum</c> and <c>_count</c>.</summary>
    public void Histogram(string name, string help, LatencyHistogram histogram, string? labels = null)
    {
        Describe(name, "histogram", help);
        var (counts, sum) = histogram.Snapshot();
        var prefix = string.IsNullOrEmpty(labels) ? string.Empty : labels + ",";
        long cumulative = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            cumulative += counts[i];
            // Plain decimals ("0.000025", not "2.5E-05"): the label is compared as text across instances.
            var le = i < histogram.Bounds.Count ? histogram.Bounds[i].ToString("0.##########", CultureInfo.InvariantCulture) : "+Inf";
            Append(name + "_bucket", $"{prefix}le=\"{le}\"", cumulative);
        }

        Append(name + "_sum", labels, sum);
        Append(name + "_count", labels, cumulative);
    }

    /// <summary>A label value with Prometheus's escapes (backslash, quote, newline).</summary>
    public static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    public override string ToString() => _text.ToString();

    private void Sample(string name, string type, string help, double value, string? labels)
    {
        Describe(name, type, help);
        Append(name, labels, value);
    }

    private void Describe(string name, string type, string help)
    {
        if (_described.Add(name))
        {
            _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }
    }

    private void Append(string name, string? labels, double value)
    {
        _text.Append(name);
        if (!string.IsNullOrEmpty(labels))
        {
            _text.Append('{').Append(labels).Append('}');
        }

        _text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}

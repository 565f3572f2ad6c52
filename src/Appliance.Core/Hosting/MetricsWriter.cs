using System.Globalization;
using System.Text;

namespace Appliance.Core.Hosting;

/// <summary>Prometheus text exposition format 0.0.4: <c># HELP</c>, <c># TYPE</c>, then samples.</summary>
public sealed class MetricsWriter
{
    private readonly StringBuilder _text = new();
    private readonly HashSet<string> _described = [];

    public void Counter(string name, string help, double value, string? labels = null) => Sample(name, "counter", help, value, labels);

    public void Gauge(string name, string help, double value, string? labels = null) => Sample(name, "gauge", help, value, labels);

    public override string ToString() => _text.ToString();

    private void Sample(string name, string type, string help, double value, string? labels)
    {
        if (_described.Add(name))
        {
            _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }

        _text.Append(name);
        if (!string.IsNullOrEmpty(labels))
        {
            _text.Append('{').Append(labels).Append('}');
        }

        _text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}

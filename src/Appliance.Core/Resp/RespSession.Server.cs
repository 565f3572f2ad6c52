using System.Text;

namespace Appliance.Core.Resp;

/// <summary>The server commands: COMMAND, CONFIG GET, INFO, DBSIZE — introspection as stock
/// clients and monitoring use it.</summary>
internal sealed partial class RespSession
{
    private bool ServerCommand(string name, ReadOnlySpan<byte> input)
    {
        var args = _reader.Arguments;
        switch (name)
        {
            case "COMMAND":
                var sub = args.Count >= 2 ? Name(input[args[1]]) : string.Empty;
                Reply(w =>
                {
                    switch (sub)
                    {
                        case "COUNT":
                            w.Integer(Known.Count);
                            break;
                        case "DOCS":
                            w.Map(0);
                            break;
                        default:
                            w.Array(0);
                            break;
                    }
                });
                return true;
            case "CONFIG" when args.Count >= 3 && Name(input[args[1]]) == "GET":
                var parameter = Encoding.UTF8.GetString(input[args[2]]).ToLowerInvariant();
                var value = parameter switch { "save" => string.Empty, "appendonly" => "no", "databases" => "1", _ => null };
                Reply(w =>
                {
                    w.Map(value is null ? 0 : 1);
                    if (value is not null)
                    {
                        w.Bulk(parameter);
                        w.Bulk(value);
                    }
                });
                return true;
            case "INFO":
                var text = InfoText(args.Count >= 2 ? Encoding.UTF8.GetString(input[args[1]]).ToLowerInvariant() : "all");
                Reply(w => w.Bulk(text));
                return true;
            case "DBSIZE" when args.Count == 1:
                if (_dicts.Info().Keys is { } keys)
                {
                    Reply(w => w.Integer(keys));
                }
                else
                {
                    Fail("ERR", "DBSIZE is not known here (a proxy holds no table; each shard server answers for its shard)");
                }

                return true;
            default:
                return false;
        }
    }

    private string InfoText(string section)
    {
        var info = _dicts.Info();
        var all = section is "all" or "everything" or "default";
        var text = new StringBuilder();
        if (all || section == "server")
        {
            text.Append("# Server\r\nredis_version:").Append(CompatibleVersion).Append("\r\nredis_mode:standalone\r\ncube_appliance_version:")
                .Append(typeof(RespSession).Assembly.GetName().Version?.ToString(3)).Append("\r\ncube_role:").Append(info.Role)
                .Append("\r\ncube_serves:").Append(info.Description).Append("\r\n\r\n");
        }

        if (all || section == "replication")
        {
            text.Append("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\r\n"); // read-only: clients treat it as a replica
        }

        if (all || section == "stats")
        {
            text.Append("# Stats\r\ntotal_commands_processed:").Append(_stats.Commands.Sum(c => c.Value))
                .Append("\r\ncube_keys_read:").Append(_stats.Keys).Append("\r\ncube_error_replies:").Append(_stats.Errors)
                .Append("\r\ncube_table_version:").Append(info.Version).Append("\r\n\r\n");
        }

        if (all || section == "keyspace")
        {
            text.Append("# Keyspace\r\n");
            if (info.Keys is { } keys)
            {
                text.Append("db0:keys=").Append(keys).Append(",expires=0,avg_ttl=0\r\n");
            }
        }

        return text.ToString();
    }
}

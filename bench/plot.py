#!/usr/bin/env python3
"""Charts for docs/bench from the bench scripts' TSV files (python3-matplotlib).

  plot.py scaling build-scaling.tsv out.png   build rate, disk time, cold start, wire keys/s vs table size
  plot.py latency latency.tsv out.png         p50/p99/p99.9 vs offered load, one line per server
  plot.py memory larger-than-memory.tsv out.png   keys/s and p99 vs the share of the package memory holds
  plot.py soak soak.tsv out.png               RSS, file descriptors, native blocks, GC heap over time per process
  plot.py patchday DIR out.png                seconds to live per patch; keys/s, RSS at the points (bench/patch-day.sh's DIR)
  plot.py freshness freshness.tsv out.png     served AUC per minute of traffic, one line per cadence (cube demo --stream)
"""
import csv
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: needs matplotlib (apt-get install python3-matplotlib, or scripts/setup.sh --bench)")


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def scaling(tsv, png):
    r = rows(tsv)
    keys = [int(x["keys"]) / 1e6 for x in r]
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    a = ax[0][0]
    a.plot(keys, [float(x["build_keys_per_s"]) / 1e6 for x in r], "o-", label="cube build")
    a.plot(keys, [int(x["keys"]) / float(x["disk_s"]) / 1e6 for x in r], "s--", label="disk writing the same bytes (page cache + fdatasync)")
    if all(x.get("disk_direct_s") for x in r):
        a.plot(keys, [int(x["keys"]) / float(x["disk_direct_s"]) / 1e6 for x in r], "^--", label="disk writing the same bytes (O_DIRECT)")
    a.set(xscale="log", xlabel="keys (millions)", ylabel="M keys/s", title="Build rate vs table size")
    a.legend()
    a = ax[0][1]
    a.plot(keys, [float(x["index_bytes_per_key"]) for x in r], "o-", label="index")
    a.plot(keys, [float(x["package_bytes_per_key"]) for x in r], "s-", label="whole package (40-byte values)")
    a.set(xscale="log", xlabel="keys (millions)", ylabel="bytes per key", title="Size per key", ylim=(0, None))
    a.legend()
    a = ax[1][0]
    a.plot(keys, [float(x["cold_mmap_ms"]) for x in r], "o-", label="--in_mem false (mmap)")
    a.plot(keys, [float(x["cold_in_mem_ms"]) for x in r], "s-", label="--in_mem true")
    a.set(xscale="log", yscale="log", xlabel="keys (millions)", ylabel="ms", title="Cold start: process start → first lookup answered")
    a.legend()
    a = ax[1][1]
    a.plot(keys, [float(x["wire_keys_per_core_s"]) / 1e6 for x in r], "o-", label="over the wire, per server core (server default: in memory)")
    if all(x.get("inproc_keys_s") for x in r):
        a.plot(keys, [float(x["inproc_keys_s"]) / 1e6 for x in r], "s-", label="in process, one thread, mmap (the store alone)")
    a.set(xscale="log", xlabel="keys (millions)", ylabel="M keys/s", title="Lookups, batch 100 (one shard)", ylim=(0, None))
    a.legend()
    for a in ax.flat:
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def memory(tsv, png):
    r = rows(tsv)
    fig, ax = plt.subplots(1, 3, figsize=(16, 5))
    series = sorted({(x.get("mode", "mapped"), x["zipf"]) for x in r}, key=lambda s: (s[0], -float(s[1])))
    for i, (mode, z) in enumerate(series):
        pts = sorted((min(float(x["fit_pct"]), 100), x) for x in r if x["zipf"] == z and x.get("mode", "mapped") == mode)
        label = ("uniform" if float(z) == 0 else f"Zipf s={z}") + f", {mode}"
        style = "o-" if mode == "disk" else "s--"
        fit = [p for p, _ in pts]
        ax[0].plot(fit, [float(x["keys_per_s"]) / 1e6 for _, x in pts], style, color=f"C{i}", label=label)
        ax[1].plot(fit, [float(x["p99_us"]) / 1000 for _, x in pts], style, color=f"C{i}", label=f"{label} p99")
        half = [(p, float(x["half_load_p99_us"]) / 1000) for p, x in pts if x.get("half_load_p99_us", "-") not in ("-", "")]
        if half:
            ax[1].plot([p for p, _ in half], [v for _, v in half], "v:", color=f"C{i}", label=f"{label} p99 at half load")
        ax[2].plot(fit, [float(x["read_kb_per_req"]) for _, x in pts], style, color=f"C{i}", label=label)
    iops = {x.get("iops") for x in r if x.get("iops")}
    if len(iops) == 1:
        v = float(iops.pop())
        ax[0].axhline(v / 1e6, color="gray", lw=0.8, ls=":", label=f"device: fio 4 KiB random reads, {v / 1000:.0f}k IOPS")
    ax[0].set(xlabel="% of the package (mapped) or of the values (disk) memory holds", ylabel="M keys/s (closed loop, batch 100)", title="Throughput as the hot fraction shrinks", yscale="log")
    ax[1].set(xlabel="% of the package the memory limit holds", ylabel="ms", yscale="log", title="Latency (closed loop)")
    ax[2].set(xlabel="% of the package the memory limit holds", ylabel="KB read from the device per request (100 keys)", title="Where the time goes: reads from disk")
    for a in ax:
        a.invert_xaxis()
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def load_of(row):
    realized = row.get("realized_pct") or "-"
    return float(row["load_pct"] if realized == "-" else realized)


def latency(tsv, png):
    # Open-loop points only (the closed-loop maximum and the two-generator check have no schedule).
    r = [x for x in rows(tsv) if x["offered_rps"].isdigit() and x["achieved_rps"] != "overload"]
    fig, ax = plt.subplots(1, 2, figsize=(14, 6))
    for i, server in enumerate(sorted({x["server"] for x in r})):
        color = f"C{i}"  # one colour per server, one line style per quantile
        # The load a point really was (achieved ÷ the maxima measured around it) where the run
        # recorded them; older runs only have the nominal percentage of one maximum.
        pts = sorted((load_of(x), x) for x in r if x["server"] == server)
        for q, style, marker in (("p50_us", ":", "v"), ("p99_us", "-", "o"), ("p999_us", "--", "^")):
            ax[0].plot([p for p, _ in pts], [float(x[q]) / 1000 for _, x in pts], style, color=color, marker=marker, label=f"{server} {q[:-3]}")
        ax[1].plot([float(x["achieved_rps"]) * 100 / 1e6 for _, x in pts], [float(x["p99_us"]) / 1000 for _, x in pts], "-", color=color, marker="o", label=f"{server} p99")
    ax[0].set(xlabel="load, % of each server's own maximum (measured just before and after each point)", ylabel="ms (from each request's scheduled start)", yscale="log", title="Latency under load (open loop, batch 100, server on one core)")
    ax[1].set(xlabel="M keys/s answered (one server core)", ylabel="p99, ms", xscale="log", yscale="log", title="p99 vs throughput")
    for a in ax:
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def soak(tsv, png):
    r = rows(tsv)
    fig, ax = plt.subplots(2, 2, figsize=(13, 8))
    panels = (("rss_mb", "RSS, MB"), ("fds", "open file descriptors"), ("native_in_use", "native blocks in use"), ("gc_heap_mb", "managed heap after the last GC, MB"))
    for i, process in enumerate(sorted({x["process"] for x in r})):
        pts = [x for x in r if x["process"] == process]
        minutes = [int(x["time_s"]) / 60 for x in pts]
        for a, (column, label) in zip(ax.flat, panels):
            a.plot(minutes, [float(x[column]) for x in pts], "-", color=f"C{i}", label=process)
            a.set(xlabel="minutes of mixed load (native, RESP, OIP; patches rolled out meanwhile)", ylabel=label)
    for a in ax.flat:
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
        a.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def patchday(directory, png):
    live = rows(f"{directory}/patch-day.tsv")
    points = rows(f"{directory}/points.tsv")
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    a = ax[0]
    a.plot([int(x["patch"]) for x in live], [float(x["live_seconds"]) for x in live], ".", markersize=3)
    a.set(xlabel="patch", ylabel="donefile line -> every replica live, s")
    a = ax[1]
    p = [int(x["patches"]) for x in points]
    if "wire_vs_base_alone" in points[0]:
        # Runs with a reference server: the median of the pairs' ratios at each point.
        wire = [float(x["wire_vs_base_alone"]) * 100 for x in points]
        inproc = [float(x["in_process_vs_base_alone"]) * 100 for x in points]
        ylabel = "keys/s, % of the base alone beside it\n(median of alternated pairs)"
    else:
        wire0, inproc0 = float(points[0]["wire_mkeys_s"]), float(points[0]["in_process_mkeys_s"])
        wire = [float(x["wire_mkeys_s"]) / wire0 * 100 for x in points]
        inproc = [float(x["in_process_mkeys_s"]) / inproc0 * 100 for x in points]
        ylabel = "keys/s, % of the base alone (same run)"
    a.plot(p, wire, "o-", label="over the wire (one server)")
    a.plot(p, inproc, "s-", label="in process")
    a.axhline(90, color="grey", linestyle="--", linewidth=1, label="target 90 %")
    a.set(xlabel="patches on the base", ylabel=ylabel)
    a = ax[2]
    a.plot(p, [int(x["rss_4_replicas_bytes"]) / 2**20 for x in points], "o-", label="RSS, 4 replicas")
    a.plot(p, [int(x["disk_bytes_replica"]) / 2**20 for x in points], "s-", label="disk, one replica")
    if all(x.get("all_patch_bytes_replica") for x in points):
        a.plot(p, [(2 * int(x["base_bytes_replica"]) + int(x["patch_bytes_replica"])) / 2**20 for x in points], "^--", label="2 x base + patch packages held")
        a.plot(p, [(int(x["base_bytes_replica"]) + int(x["all_patch_bytes_replica"])) / 2**20 for x in points], "v:", label="base + every patch (no retention)")
    else:
        a.plot(p, [(int(x["base_bytes_replica"]) + int(x["patch_bytes_replica"])) / 2**20 for x in points], "^--", label="base + patches, one replica")
    a.set(xlabel="patches on the base", ylabel="MiB")
    for a in ax:
        a.grid(True, alpha=0.3)
        a.set_ylim(bottom=0)
    ax[1].legend(fontsize=8)
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def freshness(tsv, png):
    data = rows(tsv)
    minutes = [int(x["minute"]) for x in data]
    fig, a = plt.subplots(figsize=(8, 4.5))
    a.plot(minutes, [float(x["best"]) for x in data], "k--", linewidth=1, label="best achievable (the hidden model)")
    for column in list(data[0].keys())[3:]:
        a.plot(minutes, [float(x[column]) for x in data], "o-", markersize=3, label=column.replace("_", " ") + " (served)")
    a.set(xlabel="minute of traffic after the base", ylabel="AUC of that minute's rows")
    a.grid(True, alpha=0.3)
    a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    kinds = {"scaling": scaling, "latency": latency, "memory": memory, "soak": soak, "patchday": patchday, "freshness": freshness}
    if len(sys.argv) != 4 or sys.argv[1] not in kinds:
        sys.exit(__doc__)
    kinds[sys.argv[1]](sys.argv[2], sys.argv[3])

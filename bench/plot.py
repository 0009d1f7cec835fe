#!/usr/bin/python3
"""Plot vmsbench JSON: throughput against record size and thread count.

    /usr/bin/python3 bench/plot.py bench.json doc/perf-throughput.png

Four panels (encode / verify+deliver, all-random / device-like state) of the
checksummed library at 1 and 2 threads (median, min-max bars), with the raw
multi-record kernel at the same thread count (dashed) and libb2 on one core
(dotted).  Needs matplotlib (Debian: apt-get install python3-matplotlib; the
Debian package installs for /usr/bin/python3).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KIB = 1024
MIB = 1024 * 1024


def size_label(n):
    return f"{n // MIB}M" if n >= MIB else f"{n // KIB}K"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py BENCH.json OUT.png")
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    rows = doc["rows"]
    meta = doc["meta"]
    by_name = {}
    for r in rows:  # the latest row of a name wins, as in vmsbench
        by_name[r["name"]] = r

    sweep = [r for r in rows if r["group"] == "sweep" and r["mode"] == "checksum"
             and "feed" not in r["name"]]
    recs = sorted({r["record"] for r in sweep})
    path = meta["hash_path"]
    libb2 = by_name.get("libb2", {}).get("gbs_median")

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    colors = {1: "tab:blue", 2: "tab:orange"}
    for col, op in enumerate(("encode", "decode")):
        for row_i, data in enumerate(("rnd", "dev")):
            ax = axes[row_i][col]
            for nt in (1, 2):
                pts = sorted((r["record"], r) for r in sweep
                             if r["op"] == op and r["data"] == data and r["threads"] == nt)
                if not pts:
                    continue
                xs = [p[0] for p in pts]
                med = [p[1]["gbs_median"] for p in pts]
                lo = [p[1]["gbs_median"] - p[1]["gbs_min"] for p in pts]
                hi = [p[1]["gbs_max"] - p[1]["gbs_median"] for p in pts]
                ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3,
                            color=colors[nt], label=f"library, {nt} thread{'s' if nt > 1 else ''}")
                kx, ky = [], []
                for rec in xs:
                    k = by_name.get(f"kernel-{path} {nt}T {size_label(rec)}")
                    if k:
                        kx.append(rec)
                        ky.append(k["gbs_median"])
                if kx:
                    ax.plot(kx, ky, linestyle="--", color=colors[nt],
                            label=f"raw kernel ({path}), {nt}T")
            if libb2:
                ax.axhline(libb2, linestyle=":", color="gray", label="libb2 blake2b, 1T")
            ax.set_xscale("log", base=2)
            ax.set_xticks(recs)
            ax.set_xticklabels([size_label(x) for x in recs])
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            what = "encode (memcpy sink)" if op == "encode" else "verify + deliver (8 MiB feeds)"
            state = "all-random state" if data == "rnd" else "device-like state (25% zero pages elided)"
            ax.set_title(f"{what}\n{state}", fontsize=10)
            if col == 0:
                ax.set_ylabel("GB/s of state")
            if row_i == 1:
                ax.set_xlabel("record size")
    axes[0][0].legend(fontsize=8, loc="best")
    la = meta.get("loadavg_start", [0, 0, 0])
    others = ""
    for sec in doc.get("sections", []):
        if sec["name"] == "sweep" and sec["wall_s"] > 0:
            used = max(0.0, (sec["all_busy_cpu_s"] - sec["own_cpu_s"]) / sec["wall_s"])
            others = f"; other processes used {used:.2f} of the {meta['online_cpus']} CPUs meanwhile"
    fig.suptitle(f"libvmstream checksummed streams: {meta['cpu']}, {meta['online_cpus']} CPUs, "
                 f"{meta['buildtype']} build, hash path {path}\n"
                 f"median of {meta['reps']} (bars: min-max), {meta['size'] // MIB} MiB state, "
                 f"load average at start {la[0]:.2f}{others}", fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()

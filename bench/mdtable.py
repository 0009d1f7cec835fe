#!/usr/bin/python3
"""Render vmsbench JSON as the Markdown tables of doc/PERFORMANCE.md.

    python3 bench/mdtable.py bench.json > tables.md
"""
import json
import sys

GROUP_TITLES = [
    ("limit", "Limits (same run, same buffers)"),
    ("library", "Library: 1 MiB records, one thread"),
    ("sweep", "Record size x threads"),
    ("batch", "Batch depth: bytes per vms_encoder_write / vms_decoder_feed (1/4 buffer)"),
    ("paired", "Paired items (timed back to back in every round)"),
]


def fmt_gbs(r):
    return f"{r['gbs_median']:.3f}", f"{r['gbs_min']:.3g}–{r['gbs_max']:.3g}"


def ratio(r, key, lim):
    return f"{r[key]:.2f} × {r[lim]}" if r[lim] else ""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mdtable.py BENCH.json")
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    m = doc["meta"]
    print(f"Run: {m['cpu']}, {m['online_cpus']} CPUs, {m['buildtype']} build "
          f"(-O{m['optimization']}), hash path **{m['hash_path']}**, {m['size'] >> 20} MiB "
          f"per buffer, median of {m['reps']} (min–max), {m['seconds']:.0f} s; load average "
          f"{m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end.")
    if doc.get("sections"):
        print()
        print("| section | wall s | CPUs used by vmsbench | CPUs used by others |")
        print("|---|---|---|---|")
        for s in doc["sections"]:
            own = s["own_cpu_s"] / s["wall_s"]
            others = max(0.0, (s["all_busy_cpu_s"] - s["own_cpu_s"]) / s["wall_s"])
            print(f"| {s['name']} | {s['wall_s']:.0f} | {own:.2f} | {others:.2f} |")
    for group, title in GROUP_TITLES:
        rows = [r for r in doc["rows"] if r["group"] == group]
        if not rows:
            continue
        print(f"\n#### {title}\n")
        print("| measurement | GB/s | min–max | cpu | ratio to limit | second ratio |")
        print("|---|---:|---|---:|---|---|")
        for r in rows:
            med, rng = fmt_gbs(r)
            name = r["name"]
            notes = []
            if r.get("stream_per_raw"):
                notes.append(f"stream {r['stream_per_raw']:.3f}× raw")
            if r.get("copied_per_raw") is not None:
                notes.append(f"copied {r['copied_per_raw']:.2f}× raw")
            if notes:
                name += " (" + ", ".join(notes) + ")"
            print(f"| {name} | {med} | {rng} | {r['cpu_per_wall']:.2f} | "
                  f"{ratio(r, 'ratio', 'limit')} | {ratio(r, 'ratio2', 'limit2')} |")
    if doc.get("memory"):
        print("\n#### Decoder peak memory (encoder → 8 MiB staging → decoder)\n")
        print("| stream | state GiB | vms_decoder_peak_memory | RSS delta | seconds |")
        print("|---|---:|---:|---:|---:|")
        for r in doc["memory"]:
            rss = f"{r['rss_delta']:,} B" if r["rss_delta"] >= 0 else "n/a"
            print(f"| {r['name']} | {r['state_gib']:.0f} | {r['decoder_peak']:,} B | {rss} | "
                  f"{r['seconds']:.2f} |")
    if doc.get("targets"):
        print("\n#### Issue 10 targets\n")
        print("| target | value | goal | met |")
        print("|---|---|---|---|")
        for t in doc["targets"]:
            rng = f" ({t['min']:.2f}–{t['max']:.2f})" if t.get("max") else ""
            op = "≤" if "memory" in t["what"] else "≥"
            print(f"| {t['what']} | {t['value']:.2f}{rng} | {op} {t['goal']:.2f} | "
                  f"{'yes' if t['met'] else '**no**'} |")


if __name__ == "__main__":
    main()

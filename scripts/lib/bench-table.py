#!/usr/bin/env python3
"""Render benchmark timings as a markdown table with medians and ratios.

Usage:
  bench-table.py --times FILE [--label KEY=TEXT]... [--faster-than KEY=TEXT]...
                 [--floor KEY] [--target SCEN/METHOD/BASE/OP/VALUE]... [--verify FILE]
                 [--same-as TEXT]

FILE has one line per timed run: "<scenario>\t<method>\t<round>\t<seconds>".
For every (scenario, method) the table shows the median, min and max over
the rounds.  --faster-than KEY adds a column "speed-up vs TEXT" (median of
KEY / median of the row, in the same scenario); --floor KEY adds "time vs
floor" (median of the row / median of KEY).  --target checks one ratio and
prints a PASS/MISS line: OP is "speedup" (BASE median / METHOD median must be
>= VALUE) or "within" (METHOD median / BASE median must be <= VALUE).
--verify FILE appends a "same result as TEXT" column (TEXT from --same-as,
default "rsync") from lines "<scenario>\t<method>\t<text>".  Times under
0.1 s are shown with four decimals.
"""

import argparse
import statistics
import sys


def fmt_secs(x):
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", required=True)
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--faster-than", action="append", default=[])
    ap.add_argument("--floor")
    ap.add_argument("--target", action="append", default=[])
    ap.add_argument("--verify")
    ap.add_argument("--same-as", default="rsync")
    args = ap.parse_args()

    runs = {}
    order = []
    with open(args.times) as f:
        for line in f:
            if not line.strip():
                continue
            scen, method, _round, secs = line.rstrip("\n").split("\t")
            key = (scen, method)
            if key not in runs:
                runs[key] = []
                order.append(key)
            runs[key].append(float(secs))
    labels = dict(kv.split("=", 1) for kv in args.label)
    faster = [kv.split("=", 1) for kv in args.faster_than]
    verify = {}
    if args.verify:
        with open(args.verify) as f:
            for line in f:
                if line.strip():
                    scen, method, text = line.rstrip("\n").split("\t", 2)
                    verify[(scen, method)] = text
    med = {k: statistics.median(v) for k, v in runs.items()}
    scenarios = list(dict.fromkeys(s for s, _ in order))
    multi = len(scenarios) > 1 or scenarios[0] != "-"

    head = (["scenario"] if multi else []) + ["method", "median (s)", "min (s)", "max (s)", "runs"]
    head += [f"speed-up vs {name}" for _, name in faster]
    if args.floor:
        head.append("time vs floor")
    if verify:
        head.append(f"same result as {args.same_as}")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scen in scenarios:
        for (s, m) in order:
            if s != scen:
                continue
            t = runs[(s, m)]
            row = ([s] if multi else []) + [labels.get(m, m), fmt_secs(med[(s, m)]),
                                             fmt_secs(min(t)), fmt_secs(max(t)), str(len(t))]
            for base, _ in faster:
                b = med.get((s, base))
                row.append(f"{b / med[(s, m)]:.2f}x" if b and med[(s, m)] > 0 else "")
            if args.floor:
                fl = med.get((s, args.floor))
                row.append(f"{med[(s, m)] / fl:.2f}x" if fl else "")
            if verify:
                row.append(verify.get((s, m), ""))
            out.append("| " + " | ".join(row) + " |")
    print("\n".join(out))
    if args.target:
        print()
    for spec in args.target:
        scen, method, base, op, value = spec.split("/")
        value = float(value)
        m, b = med.get((scen, method)), med.get((scen, base))
        name = f"{labels.get(method, method)} vs {labels.get(base, base)}" + (
            f" ({scen})" if multi else "")
        if m is None or b is None:
            print(f"- {name}: not measured")
        elif op == "speedup":
            r = b / m
            print(f"- {name}: {r:.2f}x faster (target >= {value:g}x): "
                  f"{'PASS' if r >= value else 'MISS'}")
        else:
            r = m / b
            print(f"- {name}: {r:.2f}x the time (target <= {value:g}x): "
                  f"{'PASS' if r <= value else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

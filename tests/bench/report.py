#!/usr/bin/env python3
"""Turns bench.sh's hyperfine JSON files into one Markdown report.

Arguments: RESULTS_DIR "SIZES" "HELPERS" MACHINE VERSIONS
Medians, minima and maxima are hyperfine's own figures (shell start-up already
subtracted by hyperfine); this script only formats them and divides.
"""

import json
import os
import statistics
import sys

results, sizes, helpers, machine, versions = sys.argv[1:6]
sizes = [int(n) for n in sizes.split()]
helpers = helpers.split()
OURS = [h for h in helpers if h.startswith("pat-")]
PEERS = [h for h in helpers if not h.startswith("pat-")]
OPS = ["get", "list", "store", "erase"]


def load(name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        r = json.load(f)["results"][0]
    return {k: r[k] * 1000 for k in ("median", "min", "max")}


def cell(m):
    if m is None:
        return "–"
    return f"{m['median']:.1f} ({m['min']:.1f}–{m['max']:.1f})"


def ratio(a, b):
    if a is None or b is None:
        return "–"
    return f"{a['median'] / b['median']:.2f}×"


out = []
say = out.append
say(f"Machine: {machine}  ")
say(f"Versions: {versions}")
say("")
say("Whole-process wall time in milliseconds: median (min–max), hyperfine.")
say("")
header = ["op", "N"] + helpers
for ours in OURS:
    for peer in PEERS:
        header.append(f"{ours} / {peer}")
say("| " + " | ".join(header) + " |")
say("|" + "|".join(["---"] * len(header)) + "|")
data = {}
for op in OPS:
    for n in sizes:
        row = [op, f"{n:,}"]
        for h in helpers:
            m = load(f"{h}.{op}.{n}")
            data[(h, op, n)] = m
            row.append(cell(m))
        for ours in OURS:
            for peer in PEERS:
                row.append(ratio(data[(ours, op, n)], data[(peer, op, n)]))
        say("| " + " | ".join(row) + " |")

say("")
say("Floors (same machine, same run): median (min–max) ms")
say("")
say("| process | time |")
say("|---|---|")
floors = {}
for key, label in [
    ("true", "`/bin/true`"),
    ("hello", "Rust hello-world (`rustc -O`)"),
    ("version", "`docker-credential-pat version` (no I/O)"),
    ("dbus", "`dbus-send` Ping to the Secret Service (one D-Bus round trip, libdbus client)"),
]:
    floors[key] = load(f"floor.{key}")
    say(f"| {label} | {cell(floors[key])} |")

for op in ["get", "store"]:
    for n in sizes:
        m = load(f"floor.{op}.{n}")
        floors[(op, n)] = m
        if m:
            say(f"| the keyring's share of pat-keychain's `{op}`: the same D-Bus conversation, in-process (`keyring_floor.py`), N = {n:,} | {cell(m)} |")
reference = {n: load(f"pat-keychain-ref.get.{n}") for n in sizes}
own_share = "pat-keychain" in OURS and any(floors.get(("get", n)) for n in sizes)
with_reference = "pat-keychain" in OURS and any(reference.values())
if own_share:
    say("")
    say("pat-keychain's own share: its median less the keyring's share of the same conversation (ms)")
    say("")
    say("| op | N | pat-keychain | keyring's share | own share |")
    say("|---|---|---|---|---|")
    for op in ["get", "store"]:
        for n in sizes:
            m, f = data.get(("pat-keychain", op, n)), floors.get((op, n))
            if m and f:
                say(f"| {op} | {n:,} | {m['median']:.1f} | {f['median']:.1f} | {m['median'] - f['median']:.1f} |")
if with_reference:
    say("")
    say("pat-keychain `get` with its data folder at N tokens, and with a folder that holds 10, against the same keyring (ms)")
    say("")
    say("| N | folder of N tokens | folder of 10 tokens |")
    say("|---|---|---|")
    for n in sizes:
        m, r = data.get(("pat-keychain", "get", n)), reference[n]
        if m and r:
            say(f"| {n:,} | {cell(m)} | {cell(r)} |")
if own_share or with_reference:
    # The floor rows go on below the tables above, under a header of their own.
    say("")
    say("| process | time |")
    say("|---|---|")
for n in sizes:
    m = load(f"floor.search.{n}")
    if m:
        say(f"| `dbus-send` SearchItems for one item, N = {n:,} (keyring holds every helper's entries) | {cell(m)} |")

say("")
say("Peak resident set size of `get` (GNU time, 10 runs): median (max) MiB")
say("")
say("| process | peak RSS |")
say("|---|---|")
rss = {}
for h in helpers + ["hello"]:
    path = os.path.join(results, h + ".rss")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        kib = [int(x) for x in f.read().split()]
    rss[h] = (statistics.median(kib) / 1024, max(kib) / 1024)
    label = "Rust hello-world" if h == "hello" else h
    say(f"| {label} | {rss[h][0]:.1f} ({rss[h][1]:.1f}) |")

say("")
say("Targets")
say("")
say("| target | measured | met |")
say("|---|---|---|")
biggest = max(sizes)
for ours in OURS:
    if "secretservice" in PEERS:
        worst = max(
            data[(ours, "get", n)]["median"] / data[("secretservice", "get", n)]["median"]
            for n in sizes
            if data[(ours, "get", n)] and data[("secretservice", "get", n)]
        )
        say(f"| {ours}: `get` ≤ 0.25× secretservice | worst {worst:.2f}× | {'yes' if worst <= 0.25 else 'no'} |")
    m = data.get((ours, "list", 1000))
    if m:
        say(f"| {ours}: `list` over 1,000 entries ≤ 10 ms | {m['median']:.1f} ms median, {m['max']:.1f} ms max | {'yes' if m['median'] <= 10 else 'no'} |")
    if ours in rss:
        say(f"| {ours}: peak RSS of `get` ≤ 10 MiB | {rss[ours][1]:.1f} MiB max | {'yes' if rss[ours][1] <= 10 else 'no'} |")
    # The helper's own work must not grow with the number of tokens. On the
    # keychain backend that is the helper's time less the keyring's share of
    # the same conversation (its floor) at the same N.
    base = sizes[0]
    for n in sizes[1:]:
        for op, limit in [("get", 1.15), ("store", 2.0)]:
            at, first = data[(ours, op, n)], data[(ours, op, base)]
            if not at or not first:
                continue
            label = f"{ours}: `{op}` at N = {n:,} ≤ {limit}× its N = {base:,} median"
            a, b = at["median"], first["median"]
            if ours == "pat-keychain":
                if not floors.get((op, n)) or not floors.get((op, base)):
                    continue
                a -= floors[(op, n)]["median"]
                b -= floors[(op, base)]["median"]
                label += " (its own share: the keyring's floor taken out)"
                if b <= 0:
                    say(f"| {label} | the keyring's share at N = {base:,} is the whole of it: no ratio | – |")
                    continue
            say(f"| {label} | {a:.1f} vs {b:.1f} ms: {a / b:.2f}× | {'yes' if a <= limit * b else 'no'} |")
    if ours == "pat-keychain":
        # The same measure with the keyring's growth held out another way: the
        # reference folder's `get` against the same keyring.
        for n in sizes[1:]:
            at, first, ref = data[(ours, "get", n)], data[(ours, "get", base)], reference[n]
            if not at or not first or not ref:
                continue
            a = first["median"] + at["median"] - ref["median"]
            b = first["median"]
            say(f"| {ours}: `get` at N = {n:,} ≤ 1.15× its N = {base:,} median (the keyring's growth taken out as a 10-token folder's `get` against the same keyring) | {a:.1f} vs {b:.1f} ms: {a / b:.2f}× | {'yes' if a <= 1.15 * b else 'no'} |")
    m = data[(ours, "list", biggest)]
    if m and biggest >= 10000:
        say(f"| {ours}: `list` over {biggest:,} entries ≤ 20 ms | {m['median']:.1f} ms median | {'yes' if m['median'] <= 20 else 'no'} |")


openbao = {
    key: load(f"openbao.{key}")
    for key in ("get", "get-integration", "bao-kv-get", "secretservice")
}
if openbao["get"]:
    say("")
    say("OpenBao backend: `get` against `bao server -dev` on loopback, logged in by AppRole with the client token cached in the kernel keyring (same run): median (min–max) ms")
    say("")
    say("| command | time |")
    say("|---|---|")
    for key, label in [
        ("get", "pat-openbao `get`, registry default (reads the default pointer and the `default` token at once)"),
        ("get-integration", "pat-openbao `get`, DOCKER_PAT_INTEGRATION set (one read)"),
        ("bao-kv-get", "`bao kv get -field=secret` (OpenBao's own CLI, root token)"),
        ("secretservice", f"docker-credential-secretservice `get` (N = {min(sizes):,})"),
    ]:
        say(f"| {label} | {cell(openbao[key])} |")
    if os.path.exists(os.path.join(results, "pat-openbao.rss")):
        with open(os.path.join(results, "pat-openbao.rss")) as f:
            kib = [int(x) for x in f.read().split()]
        say(f"| peak RSS of pat-openbao `get`, MiB: median (max) | {statistics.median(kib) / 1024:.1f} ({max(kib) / 1024:.1f}) |")
    met = openbao["get"]["median"] <= 5.0
    say("")
    say(f"Target: pat-openbao `get` median ≤ 5 ms: {openbao['get']['median']:.1f} ms, {'met' if met else 'not met'}.")

print("\n".join(out))

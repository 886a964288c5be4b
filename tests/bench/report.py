#!/usr/bin/env python3
"""The benchmarks' figures, from measurements to the Markdown in BENCHMARKS.md and README.md.

  report.py collect RESULTS_DIR OUT.json NAME COMMAND SIZES HELPERS MACHINE VERSIONS
      condenses one bench.sh run (hyperfine's JSON files and GNU time's RSS files in
      RESULTS_DIR) into one file: every run time of every measurement, and the run's
      settings; KEY@ROUND.json files are the rounds of one measurement, pooled as KEY.
      tests/bench/results/NAME.json is where bench.sh keeps it.

  report.py collect-side RESULTS_DIR OUT.json NAME COMMAND MACHINE VERSIONS BUILD...
      the same for one secret-service.sh run (builds side by side): every round's
      run times pooled per build, operation and session.

  report.py render [--check] RESULTS.json... -- BENCHMARKS.md README.md
      writes, from those files only, every figure of the two documents: the blocks
      between `<!-- bench:KEY -->` and `<!-- /bench:KEY -->`. Nothing else in them
      may hold a measured figure. With --check it changes nothing and fails when a
      block differs from what the results give, or when a figure stands outside
      the blocks.

Every verdict ("yes", "no") is taken from the figures printed beside it. A target
is judged on a 95% interval (a bootstrap over the run times, with a fixed seed, so
the same results always render the same): "yes" when the whole interval meets it,
"no" when none of it does, and otherwise "within noise", which is not a "yes". A
difference between two measurements whose interval reaches zero or below is "not
measurable", never a ratio.
"""

import json
import os
import random
import re
import statistics
import sys

OPS = ["get", "list", "store", "erase"]
RESAMPLES = 1000
# The runs BENCHMARKS.md describes, in its order; any other run follows, by name.
ORDER = ["main", "keychain-10000"]


# ---------------------------------------------------------------- collect


def collect(results, out, name, command, sizes, helpers, machine, versions):
    times, rss = {}, {}
    for file in sorted(os.listdir(results)):
        path = os.path.join(results, file)
        if file.endswith(".json"):
            with open(path) as f:
                run = json.load(f)["results"][0]
            key = file[: -len(".json")].split("@")[0]
            times.setdefault(key, []).extend(round(t * 1000, 4) for t in run["times"])
        elif file.endswith(".rss"):
            with open(path) as f:
                rss[file[: -len(".rss")]] = [int(x) for x in f.read().split()]
    if not times:
        sys.exit(f"report.py: no measurements in {results}")
    record = {
        "name": name,
        "command": command,
        "sizes": [int(n) for n in sizes.split()],
        "helpers": helpers.split(),
        "machine": machine,
        "versions": versions,
        "times_ms": times,
        "rss_kib": rss,
    }
    with open(out, "w") as f:
        json.dump(record, f, indent=0, sort_keys=True)
        f.write("\n")


def collect_side(results, out, name, command, machine, versions, *builds):
    times = {}
    for file in sorted(os.listdir(results)):
        if not file.endswith(".json"):
            continue
        build, op, session, _round = file[: -len(".json")].rsplit(".", 3)
        with open(os.path.join(results, file)) as f:
            run = json.load(f)["results"][0]
        times.setdefault(f"{build}.{op}.{session}", []).extend(round(t * 1000, 4) for t in run["times"])
    if not times:
        sys.exit(f"report.py: no measurements in {results}")
    record = {
        "kind": "side-by-side",
        "name": name,
        "command": command,
        "builds": list(builds),
        "machine": machine,
        "versions": versions,
        "times_ms": times,
    }
    with open(out, "w") as f:
        json.dump(record, f, indent=0, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- figures


class Run:
    def __init__(self, path):
        self.kind = "bench"
        self.sizes, self.helpers, self.rss_kib = [], [], {}
        with open(path) as f:
            self.__dict__.update(json.load(f))
        self.ours = [h for h in self.helpers if h.startswith("pat-")]
        self.peers = [h for h in self.helpers if not h.startswith("pat-")]
        true = self.times_ms.get("floor.true")
        self.floor = median(true) if true else 0.0

    def times(self, key):
        return self.times_ms.get(key)

    def below_floor(self, key):
        """A process measured faster than `/bin/true` in the same run: hyperfine's
        correction for the shell's start-up took more than the command can have."""
        xs = self.times(key)
        return bool(xs) and not key.startswith("floor.") and median(xs) < self.floor

    def usable(self, key):
        """The run times of `key`, if any and if they can be taken at their word."""
        return None if self.below_floor(key) else self.times(key)

    def cell(self, key):
        return cell(self.times(key)) + ("†" if self.below_floor(key) else "")


def median(xs):
    return statistics.median(xs)


def cell(xs):
    if not xs:
        return "–"
    return f"{median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"


NAN = float("nan")


def div(a, b):
    """a / b of two durations; not a number where either is not above zero, so that no
    ratio is ever taken of a figure that hyperfine's shell correction or a subtraction
    brought to zero or below."""
    return a / b if a > 0 and b > 0 else NAN


def interval(f, *samples, seed):
    """f of the medians, and the 2.5th and 97.5th percentiles of f over resampled
    `samples`; the percentiles are not a number when any resample's f is not."""
    rng = random.Random(seed)
    values = [f(*[median(rng.choices(s, k=len(s))) for s in samples]) for _ in range(RESAMPLES)]
    point = f(*[median(s) for s in samples])
    if any(v != v for v in values) or point != point:
        return point, NAN, NAN
    values.sort()
    return point, values[int(0.025 * RESAMPLES)], values[int(0.975 * RESAMPLES) - 1]


def verdict(lo, hi, limit):
    """At most `limit`: yes when the whole interval is, no when none of it is."""
    if lo != lo or hi != hi:
        return "not measurable"
    if hi <= limit:
        return "yes"
    if lo > limit:
        return "no"
    return "within noise"


def shown(value, lo, hi, unit=""):
    """A figure with its interval, or why there is none."""
    if lo != lo or value != value:
        return "not measurable: a figure at or below zero"
    return f"{value:.2f}{unit} ({lo:.2f}–{hi:.2f})"


class Targets:
    """The targets a run measured: (target, where, measured, verdict)."""

    def __init__(self):
        self.rows = []

    def add(self, target, where, measured, met):
        self.rows.append((target, where, measured, met))


def judge(run, targets, target, where, keys, f, limit, unit, detail=None):
    """Adds `target` at `where`, judged on f of the measurements `keys` (if all were
    made in this run), against at most `limit`."""
    if not all(run.times(k) for k in keys):
        return
    samples = [run.usable(k) for k in keys]
    if not all(samples):
        targets.add(target, where, "not measurable: a figure marked †", "not measurable")
        return
    seed = len(targets.rows)
    value, lo, hi = interval(f, *samples, seed=seed)
    measured = shown(value, lo, hi, unit)
    if detail and lo == lo:
        measured += detail(samples, seed)
    targets.add(target, where, measured, verdict(lo, hi, limit))


def positive(x):
    return x if x > 0 else NAN


def whole_targets(run, targets):
    sizes = run.sizes
    base = sizes[0]
    for ours in run.ours:
        kind = "keychain" if ours == "pat-keychain" else "vault (key cached)"
        for n in sizes:
            judge(
                run, targets, "`get` ≤ 0.25× `docker-credential-secretservice`", f"{kind}, N = {n:,}",
                [f"{ours}.get.{n}", f"secretservice.get.{n}"], div, 0.25, "×",
            )
        for n, limit in [(1000, 10.0), (10000, 20.0)]:
            judge(run, targets, f"`list` over {n:,} entries ≤ {limit:.0f} ms", kind, [f"{ours}.list.{n}"], positive, limit, " ms")
        kib = run.rss_kib.get(ours)
        if kib:
            worst = max(kib) / 1024
            targets.add(
                "peak RSS of `get` ≤ 10 MiB",
                kind,
                f"{worst:.1f} MiB (the largest of {len(kib)})",
                "yes" if worst <= 10 else "no",
            )
        for op, limit in [("get", 1.15), ("store", 2.0)]:
            target = f"`{op}` ≤ {limit}× its N = {base:,} median"
            for n in sizes[1:]:
                if ours != "pat-keychain":
                    judge(run, targets, target, f"{kind}, N = {n:,}", [f"{ours}.{op}.{n}", f"{ours}.{op}.{base}"], div, limit, "×")
                    continue
                # The keyring's own slowing with N is held out: the 10-token folder's
                # same operation against the same keyring at N is added back as the
                # N = 10 figure, so only the helper's own data (N tokens against 10) counts.
                def difference(samples, seed):
                    d, lo, hi = interval(lambda a, x: a - x, samples[0], samples[2], seed=seed)
                    return f": the N-token folder {d:+.2f} ms ({lo:+.2f} to {hi:+.2f}) against the 10-token one"

                judge(
                    run, targets, target, f"keychain, N = {n:,} (the keyring held out)",
                    [f"pat-keychain.{op}.{n}", f"pat-keychain.{op}.{base}", f"pat-keychain-ref.{op}.{n}"],
                    lambda a, f, x: div(f + a - x, f), limit, "×", difference,
                )
    judge(run, targets, "OpenBao `get` ≤ 5 ms", "registry default", ["openbao.get"], positive, 5.0, " ms")
    judge(
        run, targets, "OpenBao `get` ≤ 1.5× the vault file's `get`", "registry default, the two taking turns",
        ["openbao.get", "openbao.vault-get"], div, 1.5, "×",
    )
    # Not ours to meet: what the same read costs a program that does nothing else.
    judge(
        run, targets, "OpenBao `get` ≤ 1.5× the vault file's `get`", "the floor: the one read alone, taking turns",
        ["openbao.one-read", "openbao.vault-get"], div, 1.5, "×",
    )


# ---------------------------------------------------------------- Markdown


def run_section(run):
    out = []
    say = out.append
    say(f"### Run `{run.name}`")
    say("")
    say(f"`{run.command}`  ")
    say(f"Machine: {run.machine}  ")
    say(f"Versions: {run.versions}")
    say("")
    say("Whole-process wall time in milliseconds: median (min–max), hyperfine.")
    say("")
    header = ["op", "N"] + run.helpers + [f"{o} / {p}" for o in run.ours for p in run.peers]
    say("| " + " | ".join(header) + " |")
    say("|" + "|".join(["---"] * len(header)) + "|")
    for op in OPS:
        for n in run.sizes:
            row = [op, f"{n:,}"] + [run.cell(f"{h}.{op}.{n}") for h in run.helpers]
            for o in run.ours:
                for p in run.peers:
                    keys = f"{o}.{op}.{n}", f"{p}.{op}.{n}"
                    if not all(run.times(k) for k in keys):
                        row.append("–")
                        continue
                    a, b = (run.usable(k) for k in keys)
                    r = div(median(a), median(b)) if a and b else NAN
                    row.append("not measurable" if r != r else f"{r:.2f}×")
            if any(c != "–" for c in row[2:]):
                say("| " + " | ".join(row) + " |")
    refs = [n for n in run.sizes if run.times(f"pat-keychain-ref.get.{n}")]
    if refs:
        say("")
        say(
            "pat-keychain with its data folder at N tokens, and with a folder that holds 10, "
            "against the same keyring at each N: median (min–max) ms"
        )
        say("")
        say("| op | N | folder of N tokens | folder of 10 tokens |")
        say("|---|---|---|---|")
        for op in ["get", "store"]:
            for n in refs:
                say(f"| {op} | {n:,} | {run.cell(f'pat-keychain.{op}.{n}')} | {run.cell(f'pat-keychain-ref.{op}.{n}')} |")
    floors = [
        ("floor.true", "`/bin/true`"),
        ("floor.hello", "Rust hello-world (`rustc -O`)"),
        ("floor.version", "`docker-credential-pat version` (no I/O)"),
        ("floor.dbus", "`dbus-send` Ping to the Secret Service (one D-Bus round trip)"),
    ] + [
        (f"floor.search.{n}", f"`dbus-send` SearchItems for one item, N = {n:,}")
        for n in run.sizes
    ]
    floors = [(k, label) for k, label in floors if run.times(k)]
    if floors:
        say("")
        say("For scale, same run (nothing is subtracted from the figures above): median (min–max) ms")
        say("")
        say("| process | time |")
        say("|---|---|")
        for key, label in floors:
            say(f"| {label} | {cell(run.times(key))} |")
    rss = [(h, run.rss_kib[h]) for h in run.helpers + ["pat-openbao", "hello"] if run.rss_kib.get(h)]
    if rss:
        say("")
        say("Peak resident set size of `get` (GNU time): median (max) MiB")
        say("")
        say("| process | peak RSS |")
        say("|---|---|")
        for h, kib in rss:
            label = "Rust hello-world" if h == "hello" else h
            say(f"| {label} | {median(kib) / 1024:.1f} ({max(kib) / 1024:.1f}) |")
    if run.times("openbao.get"):
        say("")
        say(
            "OpenBao backend: `get` against `bao server -dev` on loopback, logged in by AppRole "
            "with the client token cached in the kernel keyring: median (min–max) ms"
        )
        say("")
        say("| command | time |")
        say("|---|---|")
        # Runs before the comparison of roles logged in with OpenBao's `default` policy.
        role = (
            "role as the README says, no `default` policy"
            if run.times("openbao.get-default-policy")
            else "role with OpenBao's `default` policy"
        )
        for key, label in [
            ("openbao.get", f"pat-openbao `get`, registry default (the `default` token, one read; {role})"),
            ("openbao.get-integration", f"pat-openbao `get`, DOCKER_PAT_INTEGRATION set (one read; {role})"),
            ("openbao.get-default-policy", "pat-openbao `get`, registry default, role with OpenBao's `default` policy"),
            ("openbao.one-read", "the floor: a 20-line Rust program that only makes the same read"),
            ("openbao.vault-get", "pat-file `get` (the vault file, key cached), taking turns with the rows above"),
            ("openbao.bao-kv-get", "`bao kv get -field=secret` (OpenBao's own CLI, root token)"),
            ("openbao.secretservice", f"docker-credential-secretservice `get` (N = {min(run.sizes):,})"),
        ]:
            if run.times(key):
                say(f"| {label} | {run.cell(key)} |")
    if any("†" in line for line in out):
        say("")
        say(DAGGER)
    targets = Targets()
    whole_targets(run, targets)
    if targets.rows:
        say("")
        say("Targets, as measured in this run (95% intervals):")
        say("")
        say("| target | where | measured | met |")
        say("|---|---|---|---|")
        for target, where, measured, met in targets.rows:
            say(f"| {target} | {where} | {measured} | {met} |")
    return out, targets


def side_by_side(runs):
    """Each secret-service.sh run kept: every build's figures, and each build against
    the first as a ratio of medians with its 95% interval. "slower" or "faster" only
    where the whole interval says so."""
    out = []
    for run in runs:
        first = run.builds[0]
        out += [
            f"### Run `{run.name}`",
            "",
            f"`{run.command}`  ",
            f"Machine: {run.machine}  ",
            f"Versions: {run.versions}",
            "",
            f"Whole-process wall time in milliseconds: median (min–max); each build against `{first}`.",
            "",
            "| operation | session | build | time | runs | against the first | difference |",
            "|---|---|---|---|---|---|---|",
        ]
        found = [key.split(".")[2] for key in run.times_ms]
        sessions = [s for s in ["plain", "encrypted"] if s in found] + sorted(set(found) - {"plain", "encrypted"})
        for session in sessions:
            for op in ["get", "store"]:
                base = run.usable(f"{first}.{op}.{session}")
                for build in run.builds:
                    key = f"{build}.{op}.{session}"
                    xs = run.times(key)
                    if not xs:
                        continue
                    against, differs = "–", "–"
                    if build != first and base and run.usable(key):
                        r, lo, hi = interval(div, run.usable(key), base, seed=len(out))
                        against = shown(r, lo, hi, "×")
                        differs = "not measurable" if lo != lo else "slower" if lo > 1 else "faster" if hi < 1 else "none measured"
                    elif build != first:
                        against, differs = "not measurable: a figure marked †", "not measurable"
                    out.append(f"| `{op}` | {session} | {build} | {run.cell(key)} | {len(xs)} | {against} | {differs} |")
        if any("†" in line for line in out):
            out += ["", DAGGER]
        out.append("")
    return out[:-1]


def summary(per_run):
    """One row a target, over every run that measured it: met only where all say yes."""
    rows = {}
    for name, targets in per_run:
        for target, where, _, met in targets.rows:
            # A floor shows what no helper could beat; it meets nothing.
            if not where.startswith("the floor"):
                rows.setdefault(target, []).append((name, where, met))
    out = ["| target | met | in each run |", "|---|---|---|"]
    for target, seen in rows.items():
        verdicts = {met for _, _, met in seen}
        overall = "no" if "no" in verdicts else "yes" if verdicts == {"yes"} else "not decided"
        detail = "; ".join(f"`{name}` {where}: {met}" for name, where, met in seen)
        out.append(f"| {target} | {overall} | {detail} |")
    return out


def speed_table(runs):
    """The README's table: `get` and `list` per backend, each N from the run that measured it."""
    columns = [("pat-keychain", "pat, keychain"), ("pat-file", "pat, vault (key cached)"), ("secretservice", "secretservice"), ("pass", "pass")]
    out = [
        "| op | entries | " + " | ".join(label for _, label in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    notes = []
    sizes = sorted({n for run in runs for n in run.sizes})
    for op in ["get", "list"]:
        for n in sizes:
            row = [op, f"{n:,}"]
            for helper, _ in columns:
                found = next((r for r in runs if r.times(f"{helper}.{op}.{n}")), None)
                if found is None:
                    row.append("–")
                    continue
                mark = ""
                if found is not runs[0]:
                    if found.name not in notes:
                        notes.append(found.name)
                    mark = "¹²³⁴"[notes.index(found.name)]
                row.append(found.cell(f"{helper}.{op}.{n}") + mark)
            if any(c != "–" for c in row[2:]):
                out.append("| " + " | ".join(row) + " |")
    out.append("")
    if any("†" in line for line in out):
        out += [DAGGER, ""]
    out.append(f"From the run `{runs[0].name}` (`{runs[0].command}`).")
    for i, name in enumerate(notes):
        run = next(r for r in runs if r.name == name)
        out += ["", f"{'¹²³⁴'[i]} From the run `{name}` (`{run.command}`)."]
    return out


DAGGER = (
    "† Faster than `/bin/true` in the same run: hyperfine's correction for the shell's "
    "start-up took more than the command can have, so the figure is used for no ratio and "
    "no verdict."
)

NO_RESULTS = [
    "No measurements are kept yet: these figures are to be regenerated by",
    "`tests/bench/bench.sh` ([BENCHMARKS.md](BENCHMARKS.md) says how).",
]


def blocks(runs):
    sides = [r for r in runs if r.kind == "side-by-side"]
    runs = [r for r in runs if r.kind != "side-by-side"]
    side = side_by_side(sides) if sides else NO_RESULTS
    runs_md, per_run = [], []
    for run in runs:
        section, targets = run_section(run)
        runs_md += section + [""]
        per_run.append((run.name, targets))
    if not runs:
        return {"runs": NO_RESULTS, "targets": NO_RESULTS, "speed": NO_RESULTS, "side-by-side": side}
    return {
        "side-by-side": side,
        "runs": runs_md[:-1],
        "targets": summary(per_run),
        "speed": speed_table(runs),
    }


# ---------------------------------------------------------------- documents

BLOCK = re.compile(r"(<!-- bench:([\w-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)
# A measured figure: a number with a unit of time, size or ratio.
FIGURE = re.compile(r"\d(?:[\d,.]*\d)?\s?(?:ms|×|MiB|KiB|GiB|seconds?|minutes?|hours?|s\b)")


def rewrite(text, generated, path):
    found = set()

    def fill(m):
        key = m.group(2)
        if key not in generated:
            sys.exit(f"report.py: {path} has a block bench:{key} that no script writes")
        found.add(key)
        return m.group(1) + "\n".join(generated[key]) + "\n" + m.group(4)

    return BLOCK.sub(fill, text), found


def stray_figures(text, path):
    """Measured figures outside the generated blocks (of the Speed section, in the README)."""
    if path.endswith("README.md"):
        start = text.find("\n## Speed\n")
        end = text.find("\n## ", start + 1)
        text = text[start:end] if start >= 0 else ""
    outside = BLOCK.sub("", text)
    return [m.group(0) for m in FIGURE.finditer(outside)]


def render(args):
    check = args[0] == "--check"
    if check:
        args = args[1:]
    split = args.index("--")
    runs = [Run(p) for p in args[:split]]
    runs.sort(key=lambda r: (ORDER.index(r.name) if r.name in ORDER else len(ORDER), r.name))
    generated = blocks(runs)
    wanted = {"BENCHMARKS.md": {"runs", "targets", "side-by-side"}, "README.md": {"speed"}}
    problems = []
    for path in args[split + 1 :]:
        with open(path) as f:
            text = f.read()
        new, found = rewrite(text, generated, path)
        missing = wanted.get(os.path.basename(path), set()) - found
        if missing:
            problems.append(f"{path} lacks the block(s) {sorted(missing)}")
        stray = stray_figures(new, path)
        if stray:
            problems.append(f"{path} has figures no script writes, outside the bench blocks: {stray}")
        if new != text:
            if check:
                problems.append(f"{path} differs from what the committed results give: run tests/bench/report.py render")
            else:
                with open(path, "w") as f:
                    f.write(new)
    if problems:
        sys.exit("report.py: " + "\n".join(problems))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "collect" and len(sys.argv) == 10:
        collect(*sys.argv[2:])
    elif sys.argv[1] == "collect-side" and len(sys.argv) >= 9:
        collect_side(*sys.argv[2:])
    elif sys.argv[1] == "render" and "--" in sys.argv:
        render(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

"""The benchmark: seedline against DuckDB and Polars on the same files, in the same run.

Run it with scripts/bench.sh, which builds seedline in release and installs DuckDB and Polars into .venv.
Prints, for each one-day data set (no line repeated), the median of alternating rounds of seedline
and each query of JOBS (DuckDB and Polars, with the latest-state rule and without): wall and CPU
time and peak RSS (from /usr/bin/time -v), the ratios, seedline's ingest throughput beside the csv
crate's, and whether every query gave seedline's campaign rows. Then a day with 30 days of history
behind it against a first day, with late refunds and without; last, the targets.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import fs_floor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SEEDLINE_BIN: another build of seedline to measure (say target/profiling/seedline, for perf).
SEEDLINE = os.environ.get("SEEDLINE_BIN") or os.path.join(ROOT, "target", "release", "seedline")
KEY = "bench-buyer-key-0123456789abcdef"
DAY = "2025-06-01"
# How many times the history's first day and day 31 are each run (the median is reported).
HISTORY_ROUNDS = 3


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout, wall s, cpu s, peak RSS MB)."""
    full_env = dict(os.environ, SEEDLINE_BUYER_KEY=KEY, **(env or {}))
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=full_env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    err = p.stderr
    wall_s = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", err)[1]
    parts = [float(x) for x in wall_s.split(":")]
    wall = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
    cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", err)[1]) + float(
        re.search(r"System time \(seconds\): ([\d.]+)", err)[1])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)[1]) / 1024
    return p.stdout, wall, cpu, rss


def generate(path, lines, days=1, gb18030=False, same_day=False, once=False):
    stamp = os.path.join(path, ".generated")
    want = f"{lines} {days} {gb18030}" + (" same-day" if same_day else "") + (" once" if once else "")
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    shutil.rmtree(path, ignore_errors=True)
    args = [SEEDLINE, "bench-data", "--data", path, "--lines", str(lines), "--days", str(days)]
    if gb18030:
        args.append("--gb18030")
    if same_day:
        args.append("--same-day-restatements")
    if once:
        args.append("--no-restatements")
    subprocess.run(args, check=True)
    open(stamp, "w").write(want)


def trash_dir(work):
    """Where `fresh_run_dir` moves earlier run directories of the work directory `work`."""
    return os.path.join(work, "trash")


def move_aside(path):
    """Moves an earlier run's directory into `trash/`, to be deleted after the timed runs."""
    if os.path.exists(path):
        trash = trash_dir(os.path.dirname(path))
        os.makedirs(trash, exist_ok=True)
        os.rename(path, os.path.join(trash, f"{os.path.basename(path)}-{time.time_ns()}"))


def hard_link_copy(src, dest):
    """A copy of a run directory whose files are hard links to `src`'s (`cp -al`)."""
    move_aside(dest)
    subprocess.run(["cp", "-al", src, dest], check=True)


def fresh_run_dir(data, run_dir):
    """A data directory with the generated inputs and nothing run yet.

    An earlier run's directory is moved aside into `trash/`, not deleted, and the trash is emptied
    after the timed runs (`empty_trash`). This machine's file system is ext4 without a journal,
    where allocating an inode skips every inode freed in the last minute or more, one by one
    (`recently_deleted` in fs/ext4/ialloc.c): creating thousands of files right after deleting
    thousands cost a 10M-line run 16 s instead of 12 s, all of it in the kernel.
    """
    move_aside(run_dir)
    os.makedirs(run_dir)
    for f in ("brands.jsonl", "campaigns.jsonl"):
        shutil.copy(os.path.join(data, f), run_dir)
    os.symlink(os.path.join(data, "exports"), os.path.join(run_dir, "exports"))


def seedline_run(run_dir, day):
    out, wall, cpu, rss = timed([SEEDLINE, "run", "--data", run_dir, "--date", day])
    m = re.search(r"ingest ([\d.]+) s \((\d+) MB\), match ([\d.]+) s, publish ([\d.]+) s; "
                  r"CPU ingest ([\d.]+) s, match ([\d.]+) s, publish ([\d.]+) s", out)
    steps = dict(ingest=float(m[1]), mb=int(m[2]), match=float(m[3]), publish=float(m[4]),
                 ingest_cpu=float(m[5]), match_cpu=float(m[6]), publish_cpu=float(m[7]))
    n = re.search(r"([\d]+) lines credited; (\d+) reports published", out)
    if n:
        steps.update(credited=int(n[1]), reports=int(n[2]))
    return dict(wall=wall, cpu=cpu, rss=rss, out=out.strip(), **steps)


def seedline_totals(run_dir, day):
    """Per (campaign, date): direct orders, units, gmv, refund and halo net GMV in fen, from the reports."""
    fen = lambda s: int(round(float(s) * 100)) if s else 0
    totals = {}
    for latest in glob.glob(os.path.join(run_dir, "reports", "*", day, "latest.json")):
        prefix = json.load(open(latest))["prefix"]
        with open(os.path.join(run_dir, prefix, "campaigns.csv"), encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                if r["marketplace"] != "taobao":
                    continue
                t = (int(r["orders"]), int(r["units"]), fen(r["gmv"]), fen(r["refund"]), fen(r["halo_net_gmv"]))
                if any(t):
                    totals[(r["campaign_id"], r["date"])] = t
    return totals


def job_run(script, data, day, out_csv, latest):
    """The same job as a query a user would write (bench/duckdb_job.py or bench/polars_job.py), with
    the latest-state rule in the form `latest` (see each script)."""
    _, wall, cpu, rss = timed([sys.executable, os.path.join(ROOT, "bench", script), data, day, out_csv,
                               "--latest", latest])
    totals = {}
    with open(out_csv, newline="") as f:
        for r in csv.DictReader(f):
            t = (int(r["orders"]), int(r["units"]), int(r["gmv"]), int(r["refund"]), int(r["halo_net"]))
            if any(t):
                totals[(r["campaign_id"], r["date"])] = t
    return dict(wall=wall, cpu=cpu, rss=rss, totals=totals)


def exports_of(data):
    """The export files of a generated data set."""
    return sorted(glob.glob(os.path.join(data, "exports", "*", "*", "*")))


def warm(data):
    """Reads every export once, so that each tool finds them in the page cache (the first to run
    would otherwise read them from the disk and the others not)."""
    for path in exports_of(data):
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def ingest_alone(data):
    """Ingest alone (functions/core/examples/normalise.rs) on the first export of a data set, and
    the csv crate alone parsing the same file: issue 7's own yardstick, measured in the same minute."""
    export = exports_of(data)[0]
    example = os.path.join(ROOT, "target", "release", "examples", "normalise")
    out = {}
    for mode in ("csv", "taobao"):
        best = None
        for _ in range(3):
            line = subprocess.run([example, export, mode], check=True, capture_output=True, text=True).stdout
            cpu = float(re.search(r"CPU ([\d.]+) s", line)[1])
            best = cpu if best is None else min(best, cpu)
        out[mode] = best
    mb = os.path.getsize(export) / 1e6
    print(f"  ingest alone (examples/normalise, best of 3): {mb / out['taobao']:.0f} MB/s per core; "
          f"the csv crate alone on the same file: {mb / out['csv']:.0f} MB/s per core "
          f"(seedline's ingest takes {out['taobao'] / out['csv']:.2f}x its CPU)")


# The queries seedline is measured against: DuckDB with the latest-state rule in its fastest form
# measured (a window), as a hash aggregation (arg_max) and skipped; Polars with it and without.
JOBS = [
    ("duckdb", "duckdb_job.py", "window"),
    ("duckdb-arg_max", "duckdb_job.py", "arg_max"),
    ("duckdb-shortcut", "duckdb_job.py", "none"),
    ("polars", "polars_job.py", "last"),
    ("polars-shortcut", "polars_job.py", "none"),
]


def compare(name, data, work, rounds, jobs=JOBS):
    """seedline and every query of `jobs` on one day, alternating, `rounds` times; the median run of
    each, and whether every query gave seedline's rows (none missing, none extra)."""
    runs = {"seedline": []}
    runs.update({label: [] for label, _, _ in jobs})
    mine = None
    for k in range(rounds):
        print(f"  round {k + 1} of {rounds}: seedline, " + ", ".join(label for label, _, _ in jobs), flush=True)
        run_dir = os.path.join(work, "run-" + name)
        fresh_run_dir(data, run_dir)
        warm(data)
        runs["seedline"].append(seedline_run(run_dir, DAY))
        if mine is None:
            mine = seedline_totals(run_dir, DAY)
        for label, script, form in jobs:
            warm(data)
            runs[label].append(job_run(script, data, DAY, os.path.join(work, f"{label}-{name}.csv"), form))
    same = True
    for label, _, _ in jobs:
        for r in runs[label]:
            if mine != r["totals"]:
                same = False
                only_s = {k: v for k, v in mine.items() if r["totals"].get(k) != v}
                only_o = {k: v for k, v in r["totals"].items() if mine.get(k) != v}
                print(f"  MISMATCH {name}: {len(only_s)} seedline rows, {len(only_o)} {label} rows differ; e.g.",
                      list(only_s.items())[:3], list(only_o.items())[:3])
                break
    medians = {label: median_run(rs) for label, rs in runs.items()}
    return medians, same, len(mine)


def red_day(work, data, lines, rounds=3):
    """The 1M-line day again with a day of RED note reports beside it (a row per note of every
    campaign for the day and the two before it), against the same day without them, alternating:
    what reading RED's reports costs, and that the order side is no slower for them."""
    red = os.path.join(work, "data-red")
    stamp = os.path.join(red, ".generated")
    if not (os.path.exists(stamp) and open(stamp).read() == str(lines)):
        shutil.rmtree(red, ignore_errors=True)
        subprocess.run([SEEDLINE, "bench-data", "--data", red, "--lines", str(lines), "--red", "--red-only"],
                       check=True)
        open(stamp, "w").write(str(lines))
    rows = sum(sum(1 for _ in open(p, encoding="utf-8")) - 1 for p in glob.glob(os.path.join(red, "exports/xhs/*/*.csv")))
    mb = sum(os.path.getsize(p) for p in glob.glob(os.path.join(red, "exports/xhs/*/*.csv"))) / 1e6
    both = os.path.join(work, "data-1M-red")
    if not os.path.exists(os.path.join(both, ".generated")):
        shutil.rmtree(both, ignore_errors=True)
        os.makedirs(os.path.join(both, "exports"))
        for f in ("brands.jsonl", "campaigns.jsonl"):
            shutil.copy(os.path.join(data, f), both)
        subprocess.run(["cp", "-al", os.path.join(data, "exports", "taobao"), os.path.join(both, "exports")], check=True)
        subprocess.run(["cp", "-al", os.path.join(red, "exports", "xhs"), os.path.join(both, "exports")], check=True)
        open(os.path.join(both, ".generated"), "w").write("")
    plain, with_red = [], []
    for k in range(rounds):
        for runs, src, name in ((plain, data, "run-1M-plain"), (with_red, both, "run-1M-red")):
            run_dir = os.path.join(work, name)
            fresh_run_dir(src, run_dir)
            warm(src)
            runs.append(seedline_run(run_dir, DAY))
    a, b = median_run(plain), median_run(with_red)
    print(f"\n== RED note reports: the {lines:,}-line day with and without a day of RED reports "
          f"({rows:,} rows, {mb:.0f} MB; medians of {rounds} alternating runs)")
    for label, r, runs in (("orders only", a, plain), ("orders + RED", b, with_red)):
        print(f"  {label:13} wall {r['wall']:.2f} s (ingest {r['ingest']:.2f}, match {r['match']:.2f}, "
              f"publish {r['publish']:.2f}), cpu {r['cpu']:.2f} s, peak RSS {r['rss']:.0f} MB; "
              f"{r.get('reports', 0):,} reports; runs {walls(runs)}")
    print(f"  RED's cost: ingest +{b['ingest'] - a['ingest']:.2f} s, match +{b['match'] - a['match']:.2f} s, "
          f"publish +{b['publish'] - a['publish']:.2f} s of wall")
    return a, b


def versions_written(run_dir, since):
    """(versions, MB) of report versions (reports/{brand}/{date or to-date}/v{N}/, and latest.json)
    written since `since`, measured after the timed run, so that the walk does not warm anything it times."""
    total, versions = 0, 0
    for brand in os.scandir(os.path.join(run_dir, "reports")):
        for day in os.scandir(brand.path):
            for e in os.scandir(day.path):
                if e.is_dir() and e.stat().st_mtime >= since:
                    versions += 1
                    total += sum(f.stat().st_size for f in os.scandir(e.path))
                elif e.is_file() and e.stat().st_mtime >= since:
                    total += e.stat().st_size
    return versions, total / 1e6


def republished(run_dir, day):
    """What a run of `day` republished, from its match record and each report's last two manifests:
    {kind and files that changed: reports}. Under the statement model a late refund restates the one
    statement of the day it was paid (its orders.csv and totals) and the brand's to-date report."""
    record = json.load(open(os.path.join(run_dir, "staging", "match", f"{day}.json")))
    kinds = {}

    def classify(label, d):
        v = json.load(open(os.path.join(d, "latest.json")))["version"]
        if v < 2:
            kind = f"{label}: a first version"
        else:
            files = lambda n: {f["name"]: f["sha256"] for f in json.load(open(os.path.join(d, f"v{n}", "manifest.json")))["files"]}
            before, now = files(v - 1), files(v)
            kind = f"{label}: " + (", ".join(sorted(n for n in now if before.get(n) != now[n])) or "nothing")
        kinds[kind] = kinds.get(kind, 0) + 1

    for bd in record["changed"]:
        classify("statements", os.path.join(run_dir, "reports", bd["brand_id"], bd["date"]))
    for brand in record.get("to_date_changed", []):
        classify("to-date", os.path.join(run_dir, "reports", brand, "to-date"))
    return kinds


def median_run(runs):
    """The run with the median wall time (of an odd number of runs)."""
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def walls(runs):
    """The wall times of runs, as printed."""
    return ", ".join(f"{r['wall']:.2f}" for r in runs) + " s"


def per_core(s):
    """Ingest throughput per core: export MB over the CPU seconds the process spent ingesting."""
    return s["mb"] / s["ingest_cpu"] if s["ingest_cpu"] else 0.0


def print_seedline(s):
    print(f"  seedline: wall {s['wall']:.1f} s, cpu {s['cpu']:.1f} s, peak RSS {s['rss']:.0f} MB")
    print(f"    ingest  {s['ingest']:.2f} s wall, {s['ingest_cpu']:.2f} s CPU: {s['mb'] / s['ingest']:.0f} MB/s, "
          f"{per_core(s):.0f} MB/s per core")
    print(f"    match   {s['match']:.2f} s wall, {s['match_cpu']:.2f} s CPU")
    print(f"    publish {s['publish']:.2f} s wall, {s['publish_cpu']:.2f} s CPU")


def startup_times(runs=5):
    """Per function: median time from process start to its first request for an event (the Lambda
    runtime API's GET /next), against a stand-in runtime API on 127.0.0.1; and the binary's size."""
    import http.server
    import socket
    import statistics
    import threading

    got = threading.Event()

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            got.set()
            time.sleep(0.05)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{srv.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769",
               AWS_LAMBDA_FUNCTION_VERSION="1", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true",
               SEEDLINE_BUYER_KEY=KEY, SEEDLINE_EXPORTS_BUCKET="e", SEEDLINE_REPORTS_BUCKET="r",
               SEEDLINE_TABLE="t")
    out = {}
    for fn in ("ingest-orders", "match-orders", "publish-reports"):
        path = os.path.join(ROOT, "target", "release", fn)
        times = []
        for _ in range(runs):
            got.clear()
            t0 = time.perf_counter()
            p = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ok = got.wait(10)
            times.append((time.perf_counter() - t0) * 1000)
            p.kill()
            p.wait()
            if not ok:
                sys.exit(f"{fn} never asked the runtime API for an event")
        out[fn] = (statistics.median(times), os.path.getsize(path) / 1e6)
    srv.shutdown()
    return out


def print_targets(rows, hist, starts):
    """Issue 21's and 23's targets, each with what this run measured and whether it holds. A set
    whose queries did not all give seedline's rows counts for nothing."""
    by = {name: (s, d) for name, s, d, same in rows if same is not False}
    out = []
    size = lambda prefix: next((n for n in by if n.startswith(prefix)), None)
    big, one, small = size("10M-utf8"), size("1M-utf8"), size("100k-utf8")
    gb = next((n for n in by if "gb18030" in n), None)
    for name, bound in ((big, 0.7), (one, 1.0), (small, 1.0)):
        if name:
            s, d = by[name]
            r = s["wall"] / d["duckdb-shortcut"]["wall"]
            out.append((f"{name.split('-')[0]}: wall at most {bound}x DuckDB skipping the latest-state rule",
                        f"{r:.2f}x", r <= bound))
    if big:
        s = by[big][0]
        out.append(("10M lines: peak RSS under 256 MB", f"{s['rss']:.0f} MB", s["rss"] < 256))
        if one:
            r = s["rss"] / by[one][0]["rss"]
            out.append(("peak RSS at 10M at most 1.5x that at 1M", f"{r:.2f}x", r <= 1.5))
    for name in (big, one):
        if name:
            s = by[name][0]
            out.append((f"{name.split('-')[0]}: ingest UTF-8 at least 400 MB/s per core", f"{per_core(s):.0f} MB/s",
                        per_core(s) >= 400))
            break
    if gb:
        s = by[gb][0]
        out.append(("ingest GB18030 at least 250 MB/s per core", f"{per_core(s):.0f} MB/s", per_core(s) >= 250))
    for variant, (d1, d31) in hist.items():
        r = d31["wall"] / d1["wall"]
        bound = 1.3 if variant.startswith("same-day") else 2.5
        out.append((f"day 31 at most {bound}x the first day ({variant})", f"{r:.2f}x", r <= bound))
    big_bin = max(mb for _, mb in starts.values())
    out.append(("each Lambda binary under 15 MB", f"{big_bin:.1f} MB", big_bin < 15))
    print("\n== targets (issues 21 and 23)")
    for what, got, ok in out:
        print(f"  {'holds' if ok else 'NOT MET':8} {what}: {got}")


def empty_trash(work):
    """Deletes the run directories moved aside by `fresh_run_dir`, once nothing is timed any more."""
    trash = trash_dir(work)
    if os.path.isdir(trash):
        print(f"\n(deleting earlier run directories in {trash})", flush=True)
        shutil.rmtree(trash, ignore_errors=True)
        with open(os.path.join(work, EMPTIED), "w") as f:
            f.write(f"{time.time()}\n")


EMPTIED = ".trash-emptied-at"


def warn_if_just_emptied(work):
    """ext4 without a journal skips every inode freed in the last minute, or six while its inode
    table block is dirty (`recently_deleted`): a run started right after the previous one deleted
    its directories creates files slowly."""
    try:
        with open(os.path.join(work, EMPTIED)) as f:
            ago = time.time() - float(f.read().strip())
    except (OSError, ValueError):
        return
    if ago < 600:
        print(f"note: the previous run deleted its run directories {ago:.0f} s ago; on this machine's ext4 "
              "without a journal, creating files stays slow for minutes after a big deletion, "
              "so this run's figures may be slow (wait, then run again to compare)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per one-day set (the median is reported)")
    ap.add_argument("--sizes", default="100000,1000000,10000000",
                    help="lines per data set, comma-separated ('' for none: Lambda and history only)")
    ap.add_argument("--history-lines", type=int, default=200000, help="lines per day in the history test")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--skip-history", action="store_true")
    ap.add_argument("--skip-red", action="store_true", help="skip the 1M-line day with RED note reports")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        run(args)
    finally:
        empty_trash(args.work)


def run(args):
    cores = os.cpu_count()
    print(f"machine: {cores} cores; seedline {SEEDLINE}; duckdb and polars from .venv")
    warn_if_just_emptied(args.work)
    rows = []
    sets = []
    sizes = [int(x) for x in args.sizes.split(",") if x]
    for n in sizes:
        sets.append((f"{n // 1000000}M-utf8" if n >= 1000000 else f"{n // 1000}k-utf8", n, False))
    if sets:
        # GB18030 at the smallest size of at least 1M lines (else the largest).
        at = next((i for i, n in enumerate(sizes) if n >= 1000000), len(sizes) - 1)
        sets.insert(at + 1, (sets[at][0].replace("utf8", "gb18030"), sets[at][1], True))
    for name, n, gb in sets:
        # No line repeats in the one-day sets: there every query, the shortcut too, must give
        # seedline's rows (the history below is where lines are restated).
        data = os.path.join(args.work, "data-" + name + ("" if gb else "-once"))
        t0 = time.time()
        generate(data, n, gb18030=gb, once=not gb)
        size_mb = sum(os.path.getsize(p) for p in exports_of(data)) / 1e6
        print(f"\n== {name}: {n:,} lines, {size_mb:,.0f} MB of exports (generated in {time.time() - t0:.0f} s)")
        if gb:
            run_dir = os.path.join(args.work, "run-" + name)
            fresh_run_dir(data, run_dir)
            warm(data)
            s = seedline_run(run_dir, DAY)
            print_seedline(s)
            ingest_alone(data)
            print("  duckdb, polars: not run (reading GB18030 needs DuckDB's encodings extension, which is "
                  "downloaded from DuckDB's servers, not PyPI; Polars reads UTF-8 only)")
            rows.append((name, s, None, None))
            continue
        medians, same, campaigns = compare(name, data, args.work, args.rounds)
        s = medians.pop("seedline")
        print(f"  medians of {args.rounds} rounds:")
        print_seedline(s)
        if n >= 1000000:
            ingest_alone(data)
        for label, d in medians.items():
            print(f"  {label + ':':17} wall {d['wall']:.2f} s, cpu {d['cpu']:.1f} s, peak RSS {d['rss']:.0f} MB; "
                  f"seedline {s['wall'] / d['wall']:.2f}x its wall, {s['rss'] / d['rss']:.2f}x its memory")
        print(f"  campaign totals {'identical' if same else 'DIFFER'} in every run ({campaigns} campaign rows)")
        # What the run's files cost the disk alone: a query that writes one CSV pays none of it.
        files, dirs, mb, floors, made = fs_floor.floor(os.path.join(args.work, "run-" + name), rounds=1, ways=(False,))
        for d in made:
            move_aside(d)
        wall, sys_s = floors[False]
        print(f"  file system alone: seedline's {files:,} files in {dirs:,} directories ({mb:.0f} MB) written "
              f"again in place, one thread: wall {wall:.2f} s, system {sys_s:.2f} s")
        rows.append((name, s, medians, same))

    red = None
    one_m = next(((n, data) for n, data in ((r[0], os.path.join(args.work, "data-" + r[0] + "-once")) for r in rows)
                  if n == "1M-utf8"), None)
    if one_m and not args.skip_red:
        red = red_day(args.work, one_m[1], 1000000)

    print("\n== Lambda binaries (release, stripped): size, and start to ready for an event (median of 5)")
    starts = startup_times()
    for fn, (ms, mb) in starts.items():
        print(f"  {fn}: {mb:.1f} MB, ready in {ms:.1f} ms")

    if args.skip_history:
        print_targets(rows, {}, starts)
        return
    # A day with 30 days of history behind it, against a first day of the same size: once with late
    # refunds (rows restating lines of earlier days' exports), once with every restatement in its own
    # day's export, which tells what the history itself costs from what republishing costs.
    h = args.history_lines
    hist = {}
    for variant, same_day in (("late refunds", False), ("same-day restatements only", True)):
        data = os.path.join(args.work, f"data-history-{h}" + ("-same-day" if same_day else ""))
        generate(data, h, days=31, same_day=same_day)
        run_dir = os.path.join(args.work, "run-history" + ("-same-day" if same_day else ""))
        fresh_run_dir(data, run_dir)
        warm(data)
        first = datetime.date.fromisoformat(DAY)
        last = (first + datetime.timedelta(days=30)).isoformat()

        def timed_day(dir_, day):
            started = time.time()
            r = seedline_run(dir_, day)
            r["versions"], r["written_mb"] = versions_written(dir_, started)
            return r

        firsts, lasts = [timed_day(run_dir, DAY)], []
        for i in range(1, 30):
            seedline_run(run_dir, (first + datetime.timedelta(days=i)).isoformat())
        # Day 31 runs HISTORY_ROUNDS times, each on its own copy of the day-30 state, and the first
        # day as often in fresh directories, the two interleaved: one run of each swings by a third
        # on this machine. Copies are hard links (`cp -al`): seedline replaces a file by renaming a
        # new one over it and never writes one in place, so a copy's runs leave the state as it was.
        state = run_dir + "-day30"
        hard_link_copy(run_dir, state)
        for k in range(HISTORY_ROUNDS):
            copy = run_dir if k == 0 else f"{run_dir}-day31-{k}"
            if k > 0:
                hard_link_copy(state, copy)
            lasts.append(timed_day(copy, last))
            if k + 1 < HISTORY_ROUNDS:
                again = f"{run_dir}-first-{k + 1}"
                fresh_run_dir(data, again)
                firsts.append(timed_day(again, DAY))
        d1, d31 = median_run(firsts), median_run(lasts)
        hist[variant] = (d1, d31)
        print(f"\n== history: 31 daily exports of {h:,} lines, {variant} "
              f"(first day and day 31 each the median of {HISTORY_ROUNDS} runs, interleaved)")
        print(f"  first day: wall {d1['wall']:.2f} s (ingest {d1['ingest']:.2f}, match {d1['match']:.2f}, publish {d1['publish']:.2f}), peak RSS {d1['rss']:.0f} MB; "
              f"runs {walls(firsts)}")
        print(f"  day 31:    wall {d31['wall']:.2f} s (ingest {d31['ingest']:.2f}, match {d31['match']:.2f}, publish {d31['publish']:.2f}), peak RSS {d31['rss']:.0f} MB; "
              f"runs {walls(lasts)}")
        print(f"  ratio day 31 / first day: {d31['wall'] / d1['wall']:.2f}x (of the medians; best against best "
              f"{min(r['wall'] for r in lasts) / min(r['wall'] for r in firsts):.2f}x)")
        if "reports" in d1 and "reports" in d31:
            # What a day republishes: every report whose content changed. A restated line (a late refund)
            # moves the campaign-to-date figures, and the chart, of every later report of its brand.
            per = lambda d: 1000 * (d["match"] + d["publish"]) / max(d["reports"], 1)
            print(f"  reports published: first day {d1['reports']:,}, day 31 {d31['reports']:,} "
                  f"({d31['reports'] / max(d1['reports'], 1):.1f}x); match and publish per report published: "
                  f"first day {per(d1):.2f} ms, day 31 {per(d31):.2f} ms of wall")
        kinds = republished(run_dir, last)
        print("  what day 31 republished: " + "; ".join(
            f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda x: -x[1])))
        first_mb, last_mb = d1["written_mb"], d31["written_mb"]
        print(f"  versions written: first day {d1['versions']:,} ({first_mb:.0f} MB), day 31 {d31['versions']:,} "
              f"({last_mb:.0f} MB, {last_mb / max(first_mb, 1e-9):.1f}x); under the old report model "
              f"day 31 with late refunds wrote 4,161 versions, 419 MB")
    json.dump(
        {"sets": [{"name": n, "seedline": {k: v for k, v in s.items() if k != "out"},
                   "queries": d and {label: {k: v for k, v in q.items() if k != "totals"} for label, q in d.items()},
                   "same": same}
                  for n, s, d, same in rows],
         "history": {v: {"first": {k: x for k, x in a.items() if k != "out"},
                         "day31": {k: x for k, x in b.items() if k != "out"}} for v, (a, b) in hist.items()},
         "lambda": starts,
         "red": red and {"orders_only": {k: v for k, v in red[0].items() if k != "out"},
                         "with_red": {k: v for k, v in red[1].items() if k != "out"}}},
        open(os.path.join(args.work, "results.json"), "w"), indent=2)
    print_targets(rows, hist, starts)
    if any(same is False for _, _, _, same in rows):
        sys.exit("campaign totals differ between seedline and DuckDB or Polars")


if __name__ == "__main__":
    main()

"""The file system's share of a day: what writing a run's reports and staged files costs alone.

Usage: python3 bench/fs_floor.py RUN_DIR [ROUNDS]

RUN_DIR is a data directory after `seedline run` (say target/bench/run-history, or any fresh run of
the 100k day). Its reports/ and staging/ files written by that run (those newer than its
campaigns.jsonl) are written again into a new directory beside it, same paths, same sizes, on one
thread, twice per round: once as seedline writes most files (a temporary file, then a rename over
the name) and once in place. Prints the wall and system time of each, median of ROUNDS (3): the
floor under a run's publish on this disk, which no query that writes one CSV pays.
"""
import os
import shutil
import statistics
import sys
import time


def written_by_the_run(run_dir):
    since = os.stat(os.path.join(run_dir, "campaigns.jsonl")).st_mtime
    out = []
    for top in ("reports", "staging"):
        for d, _, names in os.walk(os.path.join(run_dir, top)):
            for n in names:
                p = os.path.join(d, n)
                st = os.stat(p)
                if st.st_mtime >= since:
                    out.append((os.path.relpath(p, run_dir), st.st_size))
    return sorted(out)


def write_all(files, dest, rename):
    made = set()
    t0, s0 = time.perf_counter(), os.times().system
    for rel, size in files:
        path = os.path.join(dest, rel)
        d = os.path.dirname(path)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        body = b"x" * size
        if rename:
            tmp = os.path.join(d, ".tmp-" + os.path.basename(path))
            with open(tmp, "wb") as f:
                f.write(body)
            os.rename(tmp, path)
        else:
            with open(path, "xb") as f:
                f.write(body)
    return time.perf_counter() - t0, os.times().system - s0


def floor(run_dir, rounds=3, ways=(True, False)):
    """Writes `run_dir`'s files again `rounds` times each way of `ways` (True: temporary file and
    rename; False: in place); returns (files, directories, MB, {way: (median wall s, median
    system s)}, the directories written)."""
    files = written_by_the_run(run_dir)
    dirs = len({os.path.dirname(rel) for rel, _ in files})
    mb = sum(s for _, s in files) / 1e6
    results = {way: [] for way in ways}
    made = []
    for k in range(rounds):
        for rename in ways:
            dest = f"{run_dir}-fs-floor-{k}-{'rename' if rename else 'in-place'}"
            shutil.rmtree(dest, ignore_errors=True)
            results[rename].append(write_all(files, dest, rename))
            made.append(dest)
    medians = {r: (statistics.median(w for w, _ in runs), statistics.median(s for _, s in runs))
               for r, runs in results.items()}
    return len(files), dirs, mb, medians, made


def main():
    run_dir = sys.argv[1].rstrip("/")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    n, dirs, mb, medians, made = floor(run_dir, rounds)
    print(f"{n:,} files in {dirs:,} directories, {mb:.0f} MB, as {run_dir} wrote them")
    for rename, (wall, sys_s) in medians.items():
        how = "temporary file and rename" if rename else "in place"
        print(f"  {how}: wall {wall:.2f} s, system {sys_s:.2f} s (median of {rounds}, one thread)")
    # Left for the caller to delete: deleting thousands of files slows the next creations on ext4.
    print("  written to " + ", ".join(made))


if __name__ == "__main__":
    main()

"""Our PDQ index against python-threatexchange's, on the same bank and queries, in one run.

    python bench/matcher_bench.py                 # 1,000,000 hashes, 10,000 queries
    python bench/matcher_bench.py --size 100000   # a quicker look

What is compared
----------------
- ``ours-numpy`` and ``ours-faiss``: :class:`hashbank.platform.index.PDQIndex` with each backend.
- ``theirs``: ``threatexchange.signal_type.pdq.pdq_index.PDQIndex``, the index
  ``PdqSignal.get_index_cls()`` returns in python-threatexchange 1.2.17. HMA 1.1.x builds its
  PDQ index with ``for_signal_type.get_index_cls().build(signal_list)``
  (``OpenMediaMatch/background_tasks/build_index.py``) and answers lookups with one
  ``index.query(signal)`` per hash (``OpenMediaMatch/blueprints/matching.py``), so this is the
  index HMA runs: faiss ``IndexBinaryIDMap2(IndexBinaryMultiHash(256, 16, 16))``, threshold 31.
  ``pdq_index2.PDQIndex2`` (faiss ``IndexFlatL2`` over unpacked bits) exists in the package but
  nothing selects it.

The data
--------
A bank of random PDQ hashes in which a share of rows are near copies of other rows (0..31 flips,
some exact duplicates under another key), as a real list holds the same picture under several
records. Queries: ``--near-share`` are bank hashes with 0..31 random bit flips (every distance
equally often), ``--far-share`` have 32..40 flips and must not be reported, the rest are random.
The expected answer of every query is computed exactly from the planted families; random hashes
lie about 128 bits from each other, so nothing else is within 31 (a brute-force oracle over the
whole bank re-checks a sample of queries, and every reported pair is re-measured).

How it is measured
------------------
Each index runs in its own child process, one after another, so peaks do not mix and the two
cores are not shared. In each child: the bank and queries are loaded (the baseline), turned into
the ``(hex, key)`` list HMA passes to ``build``, the index is built (timed), the list is dropped,
then all queries run as one batch and one at a time (each timed). Memory is resident set size
over that baseline: ``held`` after building and querying, ``peak`` at the high-water mark. A
second child per index loads the saved index from disk, as a server starting would, and times
the load and a batch of queries on it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("ours-numpy", "ours-faiss", "theirs")
HEX_KEY = "b"  # bank row i is stored under key "b<i>"


# --------------------------------------------------------------------------------------------
# Data


def flip_bits(rng: np.random.Generator, codes: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Copies of ``codes`` with exactly ``flips[i]`` distinct random bits flipped in row i."""
    out = codes.copy()
    bits = np.unpackbits(out, axis=1)
    for i, k in enumerate(flips.tolist()):
        if k:
            where = rng.choice(256, size=k, replace=False)
            bits[i, where] ^= 1
    return np.packbits(bits, axis=1)


def popcount_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a.view("<u8") ^ b.view("<u8")).sum(axis=-1, dtype=np.int32)


def make_data(args: argparse.Namespace, workdir: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    n, nq, t = args.size, args.queries, args.threshold
    bank = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    origin = np.arange(n)

    # Planted families inside the bank: row dst becomes a near copy of row src.
    planted = int(n * args.bank_planted_share)
    if planted:
        rows = rng.choice(n, size=2 * planted, replace=False)
        src, dst = rows[:planted], rows[planted:]
        flips = rng.integers(0, t + 1, size=planted)
        flips[: max(1, planted // 10)] = 0  # exact duplicates under another key
        bank[dst] = flip_bits(rng, bank[src], flips)
        origin[dst] = src

    near = int(nq * args.near_share)
    far = int(nq * args.far_share)
    kinds = np.array(["near"] * near + ["far"] * far + ["random"] * (nq - near - far))
    queries = rng.integers(0, 256, size=(nq, 32), dtype=np.uint8)
    source = np.full(nq, -1)
    flips = np.zeros(nq, dtype=np.int64)
    if near + far:
        # Half of the planted queries start from a member of a bank family, so they have
        # several right answers.
        family_rows = np.flatnonzero(origin != np.arange(n))
        pick = rng.integers(0, n, size=near + far)
        if len(family_rows):
            half = (near + far) // 2
            pick[:half] = rng.choice(family_rows, size=half)
        rng.shuffle(pick)
        source[: near + far] = pick
        flips[:near] = np.arange(near) % (t + 1)
        flips[near : near + far] = t + 1 + np.arange(far) % 9  # 32..40 at t=31
        queries[: near + far] = flip_bits(rng, bank[pick], flips[: near + far])

    # Expected answers: members of the source's family within the threshold.
    families: dict[int, list[int]] = {}
    for row in np.flatnonzero(origin != np.arange(n)).tolist():
        families.setdefault(int(origin[row]), [int(origin[row])]).append(row)
    expected_q: list[int] = []
    expected_r: list[int] = []
    for q in range(near + far):
        s = int(source[q])
        members = np.array(families.get(int(origin[s]), [int(origin[s])]))
        d = popcount_distance(bank[members], queries[q][None, :])
        for row in members[d <= t].tolist():
            expected_q.append(q)
            expected_r.append(row)

    np.save(workdir / "bank.npy", bank)
    np.save(workdir / "queries.npy", queries)
    return {
        "bank": bank,
        "queries": queries,
        "kinds": kinds,
        "source": source,
        "flips": flips,
        "expected": (np.array(expected_q, dtype=np.int64), np.array(expected_r, dtype=np.int64)),
        "bank_planted": planted,
    }


# --------------------------------------------------------------------------------------------
# Children


def memory_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def results_to_arrays(per_query: list[list[tuple[str, int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, r, d = [], [], []
    for i, matches in enumerate(per_query):
        for key, distance in matches:
            q.append(i)
            r.append(int(key[len(HEX_KEY) :]))
            d.append(int(distance))
    return np.array(q, dtype=np.int64), np.array(r, dtype=np.int64), np.array(d, dtype=np.int64)


class Ours:
    def __init__(self, backend: str, threshold: int, workdir: Path) -> None:
        from hashbank.platform.index import PDQIndex

        self.cls = PDQIndex
        self.backend = backend
        self.threshold = threshold
        self.workdir = workdir
        self.index = None

    def build(self, entries: list[tuple[str, str]]) -> None:
        self.index = self.cls.build(entries, backend=self.backend, threshold=self.threshold, workdir=self.workdir)

    def query_batch(self, hexes: list[str]) -> list[list[tuple[str, int]]]:
        return [[(m.key, m.distance) for m in ms] for ms in self.index.query_many(hexes)]

    def query_one(self, hexes: list[str]) -> list[list[tuple[str, int]]]:
        return [[(m.key, m.distance) for m in self.index.query(h)] for h in hexes]

    def save(self, path: Path) -> None:
        self.index.save(path)

    def load(self, path: Path) -> None:
        self.index = self.cls.load(path, backend=self.backend, workdir=self.workdir)


class Theirs:
    def __init__(self, threshold: int) -> None:
        from threatexchange.signal_type.pdq.signal import PdqSignal

        self.cls = PdqSignal.get_index_cls()  # what HMA builds for PDQ
        self.threshold = threshold
        assert self.cls.get_match_threshold() == threshold, "python-threatexchange's PDQ threshold is 31"
        self.index = None

    def build(self, entries: list[tuple[str, str]]) -> None:
        self.index = self.cls.build(entries)

    def query_batch(self, hexes: list[str]) -> list[list[tuple[str, int]]]:
        # The index's own batch entry point (HMA itself calls query() once per hash).
        found = self.index.index.search_with_distance_in_result(hexes, self.threshold)
        entries = self.index.local_id_to_entry
        return [[(entries[i][1], int(d)) for i, _, d in found[h]] for h in hexes]

    def query_one(self, hexes: list[str]) -> list[list[tuple[str, int]]]:
        return [[(m.metadata, int(m.similarity_info.distance)) for m in self.index.query(h)] for h in hexes]

    def save(self, path: Path) -> None:
        with open(path, "wb") as out:
            self.index.serialize(out)  # HMA stores the pickled index

    def load(self, path: Path) -> None:
        with open(path, "rb") as source:
            self.index = self.cls.deserialize(source)


def make_engine(name: str, threshold: int, workdir: Path) -> Ours | Theirs:
    if name == "theirs":
        return Theirs(threshold)
    return Ours(name.split("-", 1)[1], threshold, workdir)


def run_child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    name, phase = args.child, args.phase
    engine = make_engine(name, args.threshold, workdir)
    bank = np.load(workdir / "bank.npy")
    queries = np.load(workdir / "queries.npy")
    query_hex = [row.tobytes().hex() for row in queries]
    saved = workdir / f"saved-{name}"
    gc.collect()
    baseline, _ = memory_mb()
    out: dict = {"engine": name, "phase": phase, "baseline_mb": baseline}

    if phase == "build":
        entries = [(row.tobytes().hex(), f"{HEX_KEY}{i}") for i, row in enumerate(bank)]
        out["entries_mb"] = memory_mb()[0] - baseline
        start = time.perf_counter()
        engine.build(entries)
        out["build_s"] = time.perf_counter() - start
        del entries
        gc.collect()
        out["after_build_mb"] = memory_mb()[0] - baseline

        start = time.perf_counter()
        batch = engine.query_batch(query_hex)
        out["batch_s"] = time.perf_counter() - start
        single_hex = query_hex[: args.single]
        start = time.perf_counter()
        single = engine.query_one(single_hex)
        out["single_s"] = time.perf_counter() - start
        out["single_n"] = len(single_hex)
        out["single_equals_batch"] = [sorted(x) for x in single] == [sorted(x) for x in batch[: len(single)]]
        gc.collect()
        current, peak = memory_mb()
        out["held_mb"] = current - baseline
        out["peak_mb"] = peak - baseline
        out["peak_abs_mb"] = peak

        q, r, d = results_to_arrays(batch)
        np.savez(workdir / f"results-{name}.npz", q=q, r=r, d=d)

        if saved.is_dir():
            shutil.rmtree(saved)
        elif saved.exists():
            saved.unlink()
        start = time.perf_counter()
        engine.save(saved)
        out["save_s"] = time.perf_counter() - start
        out["disk_mb"] = disk_mb(saved)
    else:  # "serve": start from the saved index as a server process would
        start = time.perf_counter()
        engine.load(saved)
        first = engine.query_batch(query_hex[:1])
        out["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        batch = engine.query_batch(query_hex)
        out["batch_s"] = time.perf_counter() - start
        q, r, d = results_to_arrays(batch)
        ref = np.load(workdir / f"results-{name}.npz")
        out["same_as_built"] = bool(
            len(ref["q"]) == len(q) and (ref["q"] == q).all() and (ref["r"] == r).all() and (ref["d"] == d).all()
        )
        out["first_query_ok"] = first[0] == batch[0]
        current, peak = memory_mb()
        out["held_mb"] = current - baseline
        out["peak_mb"] = peak - baseline
    print("RESULT " + json.dumps(out), flush=True)


def disk_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def spawn(args: argparse.Namespace, engine: str, phase: str) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        engine,
        "--phase",
        phase,
        "--workdir",
        str(args.workdir),
        "--threshold",
        str(args.threshold),
        "--single",
        str(args.single),
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{engine} ({phase}) failed with exit status {done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{engine} ({phase}) printed no result:\n{done.stdout}{done.stderr}")


# --------------------------------------------------------------------------------------------
# Checking and reporting


def check(engine: str, data: dict, workdir: Path, threshold: int) -> dict:
    found = np.load(workdir / f"results-{engine}.npz")
    q, r, d = found["q"], found["r"], found["d"]
    true_d = popcount_distance(data["bank"][r], data["queries"][q]) if len(q) else np.empty(0, np.int32)
    eq, er = data["expected"]
    n = len(data["bank"])
    got = set((q * n + r).tolist())
    want = set((eq * n + er).tolist())
    far_reported = int(((data["kinds"][q] == "far") & (r == data["source"][q])).sum()) if len(q) else 0
    return {
        "reported": len(q),
        "expected": len(want),
        "found": len(want & got),
        "missed": len(want - got),
        "recall": len(want & got) / len(want) if want else 1.0,
        "beyond": int((true_d > threshold).sum()),
        "wrong_distance": int((true_d != d).sum()),
        "unexpected_within": int(len(got - want) - (true_d > threshold).sum()),
        "far_reported": far_reported,
        "pairs": {(int(a), int(b)): int(c) for a, b, c in zip(q.tolist(), r.tolist(), d.tolist(), strict=True)},
    }


def oracle(data: dict, sample: int, threshold: int, seed: int) -> dict[int, dict[int, int]]:
    """Brute force over the whole bank for a sample of queries of every kind."""
    rng = np.random.default_rng(seed + 1)
    bank_words = data["bank"].view("<u8")
    picks = rng.choice(len(data["queries"]), size=min(sample, len(data["queries"])), replace=False)
    truth: dict[int, dict[int, int]] = {}
    for q in picks.tolist():
        d = np.bitwise_count(bank_words ^ data["queries"][q].view("<u8")).sum(axis=1, dtype=np.int32)
        rows = np.flatnonzero(d <= threshold)
        truth[q] = {int(r): int(d[r]) for r in rows}
    return truth


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="hashes in the bank (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=10_000, help="query hashes (default 10,000)")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--near-share", type=float, default=0.5, help="queries planted within the threshold")
    parser.add_argument("--far-share", type=float, default=0.1, help="queries planted 32..40 bits away")
    parser.add_argument("--bank-planted-share", type=float, default=0.01, help="bank rows that are near copies")
    parser.add_argument("--single", type=int, default=None, help="queries also run one at a time (default: all)")
    parser.add_argument("--oracle", type=int, default=100, help="queries re-checked by brute force")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ", ".join(ENGINES))
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("build", "serve"), default="build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single is None:
        args.single = args.queries
    if args.child:
        run_child(args)
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for engine in engines:
        if engine not in ENGINES:
            parser.error(f"unknown engine {engine!r}")
    own_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="matcher-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args.workdir = workdir
    try:
        report(args, engines, workdir)
    finally:
        if own_workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, engines: list[str], workdir: Path) -> None:
    import faiss
    import threatexchange

    print(
        f"PDQ matcher benchmark: bank {args.size:,} hashes, {args.queries:,} queries, threshold {args.threshold}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}, faiss {faiss.__version__}, "
        f"python-threatexchange {getattr(threatexchange, '__version__', '1.2.x')}",
        flush=True,
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    start = time.perf_counter()
    data = make_data(args, workdir)
    kinds = data["kinds"]
    print(
        f"data: {data['bank_planted']:,} bank rows planted as near copies of others; queries: "
        f"{(kinds == 'near').sum():,} within 0..{args.threshold} bits of a bank hash, "
        f"{(kinds == 'far').sum():,} at {args.threshold + 1}..{args.threshold + 9} bits, "
        f"{(kinds == 'random').sum():,} random; {len(data['expected'][0]):,} expected matches "
        f"({time.perf_counter() - start:.1f} s)",
        flush=True,
    )

    figures: dict[str, dict] = {}
    for engine in engines:
        print(f"running {engine} ...", flush=True)
        built = spawn(args, engine, "build")
        served = spawn(args, engine, "serve")
        figures[engine] = {"build": built, "serve": served, "check": check(engine, data, workdir, args.threshold)}

    print(f"load average after the runs: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    truth = oracle(data, args.oracle, args.threshold, args.seed)
    for engine in engines:
        pairs = figures[engine]["check"]["pairs"]
        agree = all({r: d for (q2, r), d in pairs.items() if q2 == q} == rows for q, rows in truth.items())
        figures[engine]["oracle_ok"] = agree

    print()
    header = (
        f"{'index':<11} {'build s':>8} {'batch q/s':>10} {'single q/s':>11} {'held MB':>8} {'peak MB':>8} "
        f"{'load s':>7} {'serve MB':>9} {'disk MB':>8} {'recall':>8} {'missed':>7} {'>31':>5} {'oracle':>7}"
    )
    print(header.replace(">31", f">{args.threshold}"))
    print("-" * len(header))
    for engine in engines:
        b, s, c = figures[engine]["build"], figures[engine]["serve"], figures[engine]["check"]
        print(
            f"{engine:<11} {b['build_s']:>8.2f} {args.queries / b['batch_s']:>10,.0f} "
            f"{b['single_n'] / b['single_s']:>11,.0f} {b['held_mb']:>8,.0f} {b['peak_mb']:>8,.0f} "
            f"{s['load_s']:>7.2f} {s['held_mb']:>9,.0f} {b['disk_mb']:>8,.0f} {c['recall']:>8.2%} "
            f"{c['missed']:>7,} {c['beyond']:>5,} {'ok' if figures[engine]['oracle_ok'] else 'DIFF':>7}"
        )
    legend = [
        "build s: from the (hex, key) list to a queryable index; batch: all queries in one call;",
        "single: one call per query (how HMA asks); held / peak MB: resident memory over the child's baseline",
        "after building and querying / at its high-water mark; load s / serve MB: a fresh process opening the",
        "saved index and answering one query / its memory after answering all of them; recall: expected",
        f"matches found (all {len(data['expected'][0]):,} planted within {args.threshold}); >{args.threshold}: "
        f"reports beyond the threshold; oracle: {len(truth)} queries brute-forced over the whole bank.",
    ]
    print("\n" + "\n".join(legend))

    notes = []
    for engine in engines:
        b, s, c = figures[engine]["build"], figures[engine]["serve"], figures[engine]["check"]
        if not b["single_equals_batch"]:
            notes.append(f"{engine}: one-at-a-time answers differ from the batch answers")
        if not s["same_as_built"] or not s["first_query_ok"]:
            notes.append(f"{engine}: the loaded index answers differently from the built one")
        if c["wrong_distance"]:
            notes.append(f"{engine}: {c['wrong_distance']} reported distances are wrong")
        if c["unexpected_within"]:
            notes.append(
                f"{engine}: {c['unexpected_within']} matches within the threshold outside the planted families"
            )
        if c["far_reported"]:
            notes.append(f"{engine}: {c['far_reported']} far-planted queries were reported")
    ours = [e for e in engines if e.startswith("ours")]
    if len(ours) == 2:
        a, b = (figures[e]["check"]["pairs"] for e in ours)
        notes.append("ours-numpy and ours-faiss: " + ("identical answers" if a == b else "ANSWERS DIFFER"))
    if "theirs" in engines:
        for engine in ours:
            same = figures[engine]["check"]["pairs"] == figures["theirs"]["check"]["pairs"]
            notes.append(f"{engine} and theirs: " + ("identical answers" if same else "answers differ"))
    for note in notes:
        print("  " + note)

    if "theirs" not in engines or not ours:
        return
    t = figures["theirs"]
    t_batch = args.queries / t["build"]["batch_s"]
    t_single = t["build"]["single_n"] / t["build"]["single_s"]
    print("\nOurs against theirs (python-threatexchange PDQIndex, as HMA builds it), same run:")
    print(
        f"{'':<11} {'batch q/s':>10} {'single q/s':>11} {'build':>8} {'held':>8} {'peak':>8} {'load':>8} {'serve':>8}"
    )
    verdicts = []
    for engine in ours:
        o = figures[engine]
        o_batch = args.queries / o["build"]["batch_s"]
        o_single = o["build"]["single_n"] / o["build"]["single_s"]
        ratios = {
            "batch": o_batch / t_batch,
            "single": o_single / t_single,
            "build": t["build"]["build_s"] / o["build"]["build_s"],
            "held": t["build"]["held_mb"] / max(o["build"]["held_mb"], 1e-9),
            "peak": t["build"]["peak_mb"] / max(o["build"]["peak_mb"], 1e-9),
            "load": t["serve"]["load_s"] / o["serve"]["load_s"],
            "serve": t["serve"]["held_mb"] / max(o["serve"]["held_mb"], 1e-9),
        }
        print(
            f"{engine:<11} {ratios['batch']:>9.1f}x {ratios['single']:>10.1f}x {ratios['build']:>7.1f}x "
            f"{ratios['held']:>7.1f}x {ratios['peak']:>7.1f}x {ratios['load']:>7.1f}x {ratios['serve']:>7.1f}x"
        )
        oc, tc = o["check"], t["check"]
        goals = {
            "same recall, nothing beyond the threshold": oc["recall"] == tc["recall"] == 1.0 and oc["beyond"] == 0,
            "at least 5x their queries per second (batch and single)": ratios["batch"] >= 5 and ratios["single"] >= 5,
            "built no slower": ratios["build"] >= 1,
            "no more memory (held and peak)": ratios["held"] >= 1 and ratios["peak"] >= 1,
        }
        verdicts.append((engine, goals))
    print("(each figure is how many times better ours is: their time or memory over ours, our speed over theirs)")
    print("\nGoals:")
    for engine, goals in verdicts:
        for goal, ok in goals.items():
            print(f"  {engine:<11} {'PASS' if ok else 'FAIL'}  {goal}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Mutation check of hostkit's security checks: does removing one fail a test?

A curated list of mutants (``scripts/_mutants.py``): each is one small bug of
the kind a real change introduces (a check dropped, a bound off by one, a
``fail_after`` turned into ``move_on_after``), named by file, the exact source
snippet, its replacement, why it matters and the targeted tests that must
catch it. Each mutant is applied *alone* to a throw-away copy of the tree in
a temporary directory (the working tree is never edited); the targeted tests
run against that copy with a timeout. A mutant is

- ``killed`` when the tests fail (or time out),
- ``survived`` when they pass: a missing test,
- ``equivalent`` when they pass but the mutant is marked equivalent (no
  behaviour differs) *and* a ``# equivalent mutant: ...`` comment next to
  its snippet says why; counted apart from the kill rate and listed,
- ``stale`` when its snippet is no longer in the file (or is there more than
  once): the code moved on and the mutant must be rewritten. Stale mutants
  are reported, never skipped silently, and make the run fail.

Why a curated list and not mutmut or cosmic-ray: both generate every
operator/constant swap of a module (thousands here), most of them in
formatting and error text, and run a test command per mutant; on a 2-core
machine with real wasmtime components (seconds per targeted test file) that
is hours to days, and their output is dominated by noise no reviewer reads.
The curated list puts each *security property* under test, in minutes.

Run it (not in CI: it takes ~10-20 minutes on 2 cores)::

    .venv/bin/python scripts/mutation.py                  # every mutant
    .venv/bin/python scripts/mutation.py --only gate      # ids/files containing "gate"
    .venv/bin/python scripts/mutation.py --list           # the list, with staleness
    .venv/bin/python scripts/mutation.py --jobs 2         # two copies in parallel

It prints one line per mutant, the kill rate overall and per module, and the
survivors and stale mutants with their reasons. Exit status: 0 when the kill
rate is at least ``--threshold`` percent (95) and nothing is stale, else 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from _mutants import MUTANTS, Mutant  # noqa: E402

_IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info"
)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | timeout | survived | equivalent | stale | error
    seconds: float = 0.0
    detail: str = ""


def _status_in(tree: Path, m: Mutant) -> str | None:
    """None when ``m`` applies to ``tree``, else why it is stale."""
    path = tree / m.file
    if not path.exists():
        return f"{m.file} does not exist"
    found = path.read_text().count(m.snippet)
    if found == 0:
        return "snippet not found"
    if found > 1:
        return f"snippet found {found} times (make it unique)"
    return None


def _copy_tree(dest: Path) -> Path:
    tree = dest / "tree"
    shutil.copytree(ROOT, tree, ignore=_IGNORED, symlinks=True)
    return tree


def _pytest(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    env = dict(os.environ)
    # No bytecode: a same-size edit within one second must never run a stale .pyc.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q"]
    cmd += ["-p", "no:cacheprovider", "--no-header", *tests]
    try:
        done = subprocess.run(
            cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, "timed out"
    lines = (done.stdout + done.stderr).strip().splitlines()
    failed = [line.split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    return done.returncode, "; ".join([*failed[:5], lines[-1]] if lines else failed)


def _check_copy_is_used(tree: Path) -> None:
    """The copy's hostkit must shadow the editable install of the worktree."""
    probe = "import hostkit, sys; sys.stdout.write(hostkit.__file__)"
    python = str(ROOT / ".venv" / "bin" / "python")
    out = subprocess.run(
        [python, "-c", probe], cwd=tree, capture_output=True, text=True, check=True
    ).stdout
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the copy's hostkit is not the one imported ({out}); aborting")


def _run_one(tree: Path, m: Mutant, timeout: float) -> Outcome:
    stale = _status_in(tree, m)
    if stale:
        return Outcome(m, "stale", detail=stale)
    path = tree / m.file
    original = path.read_text()
    path.write_text(original.replace(m.snippet, m.replacement, 1))
    started = time.monotonic()
    try:
        code, last = _pytest(tree, m.tests, timeout)
    finally:
        path.write_text(original)
    took = time.monotonic() - started
    if code is None:
        return Outcome(m, "timeout", took, last)
    if code == 0:
        if m.equivalent:
            if _explained(original, m.snippet):
                return Outcome(m, "equivalent", took, last)
            return Outcome(m, "survived", took, "marked equivalent, but no comment explains it")
        return Outcome(m, "survived", took, last)
    if code in (1, 2, 3):  # failed, interrupted (collection/import error), internal error
        return Outcome(m, "killed", took, last)
    # 4: a test path that does not exist; 5: no tests ran. The list is wrong.
    return Outcome(m, "error", took, f"pytest exit {code}: {last}")


def _explained(source: str, snippet: str) -> bool:
    """Whether a ``# equivalent mutant:`` comment is within 6 lines of ``snippet``."""
    lines = source.splitlines()
    first = source[: source.index(snippet)].count("\n")
    last = first + snippet.count("\n")
    near = lines[max(0, first - 6) : last + 7]
    return any("# equivalent mutant:" in line for line in near)


def _module(m: Mutant) -> str:
    return m.file.removeprefix("hostkit/").removesuffix(".py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="id or file substring")
    parser.add_argument("--list", action="store_true", help="list mutants and staleness, run none")
    parser.add_argument("--jobs", type=int, default=1, help="tree copies run in parallel")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument("--threshold", type=float, default=95.0, help="kill rate to pass, %%")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    args = parser.parse_args(argv)

    ids = Counter(m.id for m in MUTANTS)
    if dup := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"duplicate mutant ids: {dup}")
    chosen = [
        m for m in MUTANTS if not args.only or any(s in m.id or s in m.file for s in args.only)
    ]
    if args.list:
        for m in chosen:
            stale = _status_in(ROOT, m)
            print(f"{m.id:38} {m.file:44} {'STALE: ' + stale if stale else 'ok'}")
        return 0

    with tempfile.TemporaryDirectory(prefix="hostkit-mutation-") as tmp:
        trees = [_copy_tree(Path(tmp) / f"copy{i}") for i in range(max(1, args.jobs))]
        _check_copy_is_used(trees[0])
        if not args.no_baseline:
            wanted = tuple(sorted({t for m in chosen for t in m.tests}))
            code, last = _pytest(trees[0], wanted, args.timeout * 4)
            if code != 0:
                print(f"baseline (unmutated) run fails: {last}; fix the suite first")
                return 1
            print(f"baseline: {last}")

        slots = list(range(len(trees)))
        outcomes: list[Outcome] = []

        def work(item: tuple[int, Mutant]) -> Outcome:
            index, m = item
            tree = trees[index % len(trees)]
            out = _run_one(tree, m, args.timeout)
            mark = {"killed": "killed  ", "timeout": "killed* ", "survived": "SURVIVED"}
            mark |= {"stale": "STALE   ", "error": "ERROR   ", "equivalent": "equiv.  "}
            print(
                f"{mark[out.status]} {m.id:38} {out.seconds:6.1f}s  {out.detail}",
                flush=True,
            )
            return out

        # Mutants are dealt to copies round-robin; each copy runs one at a time.
        by_copy: dict[int, list[tuple[int, Mutant]]] = defaultdict(list)
        for i, m in enumerate(chosen):
            by_copy[i % len(slots)].append((i, m))
        with ThreadPoolExecutor(len(slots)) as pool:
            for batch in pool.map(lambda items: [work(x) for x in items], by_copy.values()):
                outcomes.extend(batch)

    return _report(outcomes, args.threshold)


def _report(outcomes: list[Outcome], threshold: float) -> int:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        per[_module(o.mutant)]["killed" if o.status == "timeout" else o.status] += 1
    print("\nper module (killed/run):")
    for module in sorted(per):
        c = per[module]
        run = c["killed"] + c["survived"]
        print(
            f"  {module:36} {c['killed']:3}/{run:<3} equivalent {c['equivalent']} "
            f"stale {c['stale']} error {c['error']}"
        )
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    survivors = [o for o in outcomes if o.status == "survived"]
    stale = [o for o in outcomes if o.status == "stale"]
    equivalent = [o for o in outcomes if o.status == "equivalent"]
    errors = [o for o in outcomes if o.status == "error"]
    run = killed + len(survivors)
    rate = 100.0 * killed / run if run else 0.0
    print(
        f"\nkill rate: {killed}/{run} = {rate:.1f}% "
        f"({len(equivalent)} equivalent, explained in the code; {len(stale)} stale)"
    )
    for o in equivalent:
        print(f"equiv.   {o.mutant.id} ({o.mutant.file}): see the comment next to it")
    for o in survivors:
        print(f"SURVIVED {o.mutant.id} ({o.mutant.file}): {o.mutant.why}")
    for o in stale:
        print(f"STALE    {o.mutant.id} ({o.mutant.file}): {o.detail}")
    for o in errors:
        print(f"ERROR    {o.mutant.id} ({o.mutant.file}): {o.detail}")
    return 0 if rate >= threshold and not stale and not errors else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run the benchmarks: `python -m benchmarks [names...] [--quick] [--output FILE] [-- args]`.

Without names, every `benchmarks/bench_*.py` that defines `main(argv)` runs, one after the
other, each in a fresh Python process (so thread settings, dtype policies and memory of one
cannot leak into the next, and a crash stops only that benchmark). Each prints its own Markdown.

    python -m benchmarks                    # all of them
    python -m benchmarks --quick            # all, short runs (passes --quick to each)
    python -m benchmarks bench_captum       # one ("captum" works too)
    python -m benchmarks captum -- --repeats 9   # arguments after -- go to the benchmark(s)
    python -m benchmarks bench_graph -- --breakdown   # public-API ratios of issues 11 / 12
    python -m benchmarks --list
    python -m benchmarks --quick --output bench.md   # also write all the output to a file
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def has_main(path: Path) -> bool:
    """True if the module defines a top-level `main` function (checked without importing it)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError):
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
        for node in tree.body
    )


def discover() -> list[str]:
    """Module names `bench_*` in this folder that have `main(argv)`, sorted."""
    return sorted(p.stem for p in HERE.glob("bench_*.py") if has_main(p))


def _resolve(names: list[str], known: list[str]) -> list[str]:
    out = []
    for name in names:
        name = name.removesuffix(".py").rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        candidates = [name, f"bench_{name}"]
        match = next((c for c in candidates if c in known), None)
        if match is None:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(known) or 'none'}")
        out.append(match)
    return out


def run_one(module: str, args: list[str], sink) -> tuple[int, float]:
    """Run `benchmarks.<module>.main(args)` in a child process, streaming its output."""
    code = (
        "import sys\n"
        f"from benchmarks.{module} import main\n"
        "rc = main(sys.argv[1:])\n"
        "sys.exit(rc if isinstance(rc, int) else 0)\n"
    )
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE.parent), env.get("PYTHONPATH", "")) if p
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=str(HERE.parent),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if sink is not None and not _is_log_noise(line):
            sink.write(line)
    rc = proc.wait()
    return rc, time.perf_counter() - start


def _is_log_noise(line: str) -> bool:
    """TensorFlow's C++ start-up chatter (I0000 / E0000 / W0000 ... lines) is not a result."""
    return len(line) > 5 and line[0] in "IWE" and line[1:5].isdigit()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run keras-relevance benchmarks."
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="short runs (passes --quick)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--output", help="also write the benchmarks' output to this file")
    args = parser.parse_args(argv)

    known = discover()
    if args.list:
        print("\n".join(known))
        return 0
    selected = _resolve(args.names, known) if args.names else known
    child_args = (["--quick"] if args.quick else []) + passthrough
    sink = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
    results = []
    try:
        for module in selected:
            header = f"\n## {module}\n"
            print(header, flush=True)
            if sink is not None:
                sink.write(header + "\n")
            rc, seconds = run_one(module, child_args, sink)
            results.append((module, rc, seconds))
    finally:
        if sink is not None:
            sink.close()
    print("\n## Summary\n")
    print("| benchmark | status | wall time |")
    print("|---|---|---:|")
    for module, rc, seconds in results:
        print(f"| {module} | {'ok' if rc == 0 else f'failed (exit {rc})'} | {seconds:.0f} s |")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Fuzzes the avatar validator with many mutated GLB files and prints what it tried and how long inputs took.

Run from the repository root: `.venv/bin/python -m bench.fuzz_avatar_validator --count 20000`.
Seeds are the tests' small sample avatar and, when ../shared is present, robot-expressive.glb (one input in
ten, as its 160 KB JSON makes each mutation slower). Exits 1 if any input raised or hit an internal error.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from collections import Counter
from collections.abc import Sequence

from services.avatar.inspection import inspect_glb
from services.avatar.mapping import auto_map
from services.avatar.validation import validate_glb
from tests.services.avatar.glb_mutations import apply_mutations, random_mutation
from tests.services.avatar.glb_samples import ROBOT, Document, sample_document


def _robot_seed() -> tuple[Document, bytes] | None:
    """The robot's JSON and BIN chunk, if the shared assets are present."""
    if not ROBOT.exists():
        return None
    data = ROBOT.read_bytes()
    json_length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + json_length])
    bin_start = 20 + json_length + 8
    return document, data[bin_start:]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzzer and print a summary table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    sample = sample_document()
    robot = _robot_seed()
    outcomes: Counter[str] = Counter()
    first_codes: Counter[str] = Counter()
    all_codes: set[str] = set()
    failures: list[str] = []
    timings: list[float] = []
    started = time.perf_counter()
    for attempt in range(args.count):
        document, binary = robot if robot is not None and attempt % 10 == 9 else sample
        mutations = [random_mutation(rng) for _ in range(rng.randint(1, 4))]
        data = apply_mutations(document, binary, mutations)
        begin = time.perf_counter()
        try:
            report = validate_glb(data)
            inspection = inspect_glb(data)
            auto_map(inspection.clip_names, inspection.morph_targets)
        except Exception as exc:  # the point of the bench: count what should never happen
            failures.append(f"{type(exc).__name__}: {exc} after {mutations!r}")
            continue
        timings.append(time.perf_counter() - begin)
        codes = [issue.code for issue in report.errors]
        all_codes.update(issue.code for issue in report.issues)
        if "VALIDATOR_INTERNAL_ERROR" in codes:
            failures.append(f"internal error after {mutations!r}")
        outcomes["valid" if report.valid else "invalid"] += 1
        first_codes[codes[0] if codes else "(none)"] += 1
    total = time.perf_counter() - started
    timings.sort()
    print(f"inputs tried          {args.count}")
    print(f"seeds                 sample{' + robot-expressive.glb' if robot else ''}")
    print(f"valid / invalid       {outcomes['valid']} / {outcomes['invalid']}")
    print(f"exceptions + internal {len(failures)}")
    if timings:
        print(
            f"time per input        mean {sum(timings) / len(timings) * 1000:.2f} ms, "
            f"p99 {timings[int(len(timings) * 0.99)] * 1000:.2f} ms, max {timings[-1] * 1000:.2f} ms"
        )
    print(f"distinct issue codes  {len(all_codes)}")
    print(f"wall time             {total:.1f} s")
    print("most common first errors:")
    for code, count in first_codes.most_common(12):
        print(f"  {code:<40} {count}")
    for failure in failures[:10]:
        print(f"FAILURE {failure[:400]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

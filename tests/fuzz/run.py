"""Run one atheris target: python -m tests.fuzz.run TARGET [libFuzzer options] [CORPUS...].

Exit status 0 when the budget ran out without a crash; libFuzzer's crash status
(and a crash-* file holding the input) otherwise.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["credhelper"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: python -m tests.fuzz.run {{{'|'.join(TARGETS)}}} [libFuzzer args]")
        sys.exit(2)
    target = TARGETS[sys.argv[1]]
    sys.setrecursionlimit(1000)  # the helper's own limit: deep nesting must be handled
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""One direction between the stages, enforced by the build (cmake/Stages.cmake).

  tests/layers/layers_test.py BUILD_DIR

For every stage of user/ (base, catalog, host, profile, analysis, render, loader, cli) it takes
the compiler command of one of its sources from BUILD_DIR/compile_commands.json and preprocesses,
with exactly those flags, a file that includes one public header of include/iommuprof/ — for
every header of every stage. A header of the stage itself or of a stage it may use must be
found; a header of any other stage must not be ("file not found"): an include against the
direction fails to build. Exit 1, one line per pair that behaves otherwise.
"""
import json
import re
import os
import shlex
import subprocess
import sys
import tempfile

# The intended direction: what each stage may include (besides itself).
USES = {
    "base": set(),
    "catalog": {"base"},
    "host": {"base"},
    "profile": {"base", "host"},
    "analysis": {"base", "catalog", "host", "profile"},
    "render": {"base", "catalog", "host", "profile", "analysis"},
    "loader": {"base", "catalog", "host", "profile", "analysis"},
    "cli": {"base", "catalog", "host", "profile", "analysis", "render", "loader"},
}


def sources_of(cmd):
    """The sources one compile command compiles: those a CMake unity file includes, or its own."""
    f = cmd["file"]
    if "/Unity/unity_" in f and os.path.isfile(f):
        return re.findall(r'^#include "([^"]+)"', open(f).read(), re.M)
    return [f]


def main():
    build = os.path.abspath(sys.argv[1])
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cmds = json.load(open(os.path.join(build, "compile_commands.json")))
    owner = {}
    for stage in USES:
        d = os.path.join(build, "stage-include", stage, "iommuprof")
        for h in sorted(os.listdir(d)):
            owner[h] = stage
    every = sorted(os.listdir(os.path.join(src, "include", "iommuprof")))
    failures = [f"include/iommuprof/{h}: belongs to no stage" for h in every if h not in owner]
    tmp = tempfile.mkdtemp(prefix="iommuprof-layers.")
    checked = 0
    for stage, uses in USES.items():
        prefix = os.path.join(src, "user", stage) + "/"
        cmd = next((c for c in cmds if any(f.startswith(prefix) for f in sources_of(c))), None)
        if cmd is None:
            failures.append(f"{stage}: no source in compile_commands.json")
            continue
        argv = shlex.split(cmd["command"]) if "command" in cmd else cmd["arguments"]
        flags = []
        for i, a in enumerate(argv[1:], 1):
            if a in ("-I", "-isystem", "-D") and i + 1 < len(argv):  # the option and its value as two words
                flags += [a, argv[i + 1]]
            elif a.startswith(("-I", "-isystem", "-D", "-std")) and a not in ("-I", "-isystem", "-D"):
                flags.append(a)
        for h, hs in sorted(owner.items()):
            test = os.path.join(tmp, f"{stage}-{h}.cpp")
            with open(test, "w") as f:
                f.write(f'#include "iommuprof/{h}"\n')
            r = subprocess.run([argv[0], "-E", "-o", os.devnull, *flags, test], capture_output=True, text=True,
                               cwd=cmd["directory"])
            allowed = hs == stage or hs in uses
            missing = "iommuprof/" + h in r.stderr and ("No such file" in r.stderr or "not found" in r.stderr)
            checked += 1
            if allowed and r.returncode != 0:
                failures.append(f"{stage} cannot include its own or a lower stage's iommuprof/{h} ({hs}): "
                                f"{r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode}")
            elif not allowed and (r.returncode == 0 or not missing):
                failures.append(f"{stage} can include iommuprof/{h} of stage {hs}, against the direction")
    for f in failures:
        print("FAIL " + f)
    print(f"{checked} (stage, header) pairs checked, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

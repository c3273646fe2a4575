#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Coverage of one source file from `llvm-cov export` JSON: its line and
branch figures, the functions no input reached, and for the functions that
read outside input their code regions run (llvm-cov 14 cannot report
functions of one file by itself).
   coverage-summary.py EXPORT.json MODULE.c [FUNCTION...]"""

import json
import os
import sys

data = json.load(open(sys.argv[1]))["data"][0]
module, wanted = sys.argv[2], sys.argv[3:]
files = [f for f in data["files"] if os.path.basename(f["filename"]) == module]
if not files:
    sys.exit(f"coverage-summary: {module} is not in the profile")
s = files[0]["summary"]
print(f"   {module}: lines {s['lines']['covered']}/{s['lines']['count']} ({s['lines']['percent']:.1f}%), "
      f"branches {s['branches']['covered']}/{s['branches']['count']} ({s['branches']['percent']:.1f}%), "
      f"functions {s['functions']['covered']}/{s['functions']['count']}")
funcs = {}
for fn in data["functions"]:
    if any(os.path.basename(x) == module for x in fn["filenames"]):
        funcs[fn["name"].split(":")[-1]] = fn
never = sorted(n for n, fn in funcs.items() if fn["count"] == 0)
print("   never run: " + (", ".join(never) if never else "none"))
total_run = total = 0
parts = []
for name in wanted:
    fn = funcs.get(name)
    if not fn:
        sys.exit(f"coverage-summary: no function {name} in {module}")
    # Code regions (kind 0) of the function's own file.
    code = [r for r in fn["regions"] if r[7] == 0 and os.path.basename(fn["filenames"][r[5]]) == module]
    run = sum(1 for r in code if r[4] > 0)
    total_run += run
    total += len(code)
    parts.append(f"{name} {run}/{len(code)}")
if wanted:
    print(f"   parser functions: code regions run {total_run}/{total} ({100.0 * total_run / max(total, 1):.1f}%)")
    print("     " + ", ".join(parts))

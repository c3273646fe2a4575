#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Line coverage of one source file from `llvm-cov export` JSON, and the
functions of that file that no input reached.
   coverage-summary.py EXPORT.json MODULE.c"""

import json
import os
import sys

data = json.load(open(sys.argv[1]))["data"][0]
module = sys.argv[2]
files = [f for f in data["files"] if os.path.basename(f["filename"]) == module]
if not files:
    sys.exit(f"coverage-summary: {module} is not in the profile")
s = files[0]["summary"]
print(f"   {module}: lines {s['lines']['covered']}/{s['lines']['count']} ({s['lines']['percent']:.1f}%), "
      f"branches {s['branches']['covered']}/{s['branches']['count']} ({s['branches']['percent']:.1f}%), "
      f"functions {s['functions']['covered']}/{s['functions']['count']}")
never = sorted({fn["name"].split(":")[-1] for fn in data["functions"]
                if fn["count"] == 0 and any(os.path.basename(x) == module for x in fn["filenames"])})
print("   never run: " + (", ".join(never) if never else "none"))

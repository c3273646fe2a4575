#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compare one interface of a live introspection with its golden XML.

Usage: introspect-compare.py LIVE.xml GOLDEN.xml INTERFACE

Compared: methods (names; their arguments in order with type, direction and
name), signals (names; argument types and names) and properties (name,
type, access, and the org.freedesktop.DBus.Property.EmitsChangedSignal
annotation, "true" when absent), in either direction. Doc comments and
other annotations are not compared. Exit status 1 lists every difference.
"""
import sys
import xml.etree.ElementTree as ET

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def interface(path, name):
    root = ET.parse(path).getroot()
    for iface in root.iter("interface"):
        if iface.get("name") == name:
            return iface
    sys.exit(f"{path}: no interface {name}")


def describe(iface):
    methods, signals, props = {}, {}, {}
    for m in iface.findall("method"):
        methods[m.get("name")] = [
            (a.get("direction", "in"), a.get("type"), a.get("name")) for a in m.findall("arg")
        ]
    for s in iface.findall("signal"):
        signals[s.get("name")] = [(a.get("type"), a.get("name")) for a in s.findall("arg")]
    for p in iface.findall("property"):
        emits = "true"
        for a in p.findall("annotation"):
            if a.get("name") == EMITS:
                emits = a.get("value")
        props[p.get("name")] = (p.get("type"), p.get("access"), emits)
    return {"method": methods, "signal": signals, "property": props}


def main():
    live_path, golden_path, name = sys.argv[1:4]
    live = describe(interface(live_path, name))
    golden = describe(interface(golden_path, name))
    problems = []
    for kind in ("method", "signal", "property"):
        for member in sorted(set(live[kind]) | set(golden[kind])):
            if member not in golden[kind]:
                problems.append(f"{kind} {member}: in the daemon, not in {golden_path}")
            elif member not in live[kind]:
                problems.append(f"{kind} {member}: in {golden_path}, not in the daemon")
            elif live[kind][member] != golden[kind][member]:
                problems.append(
                    f"{kind} {member}: the daemon has {live[kind][member]}, {golden_path} has {golden[kind][member]}"
                )
    if problems:
        print(f"{name}: live introspection differs from {golden_path}:")
        for p in problems:
            print("  " + p)
        return 1
    print(f"{name}: matches {golden_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

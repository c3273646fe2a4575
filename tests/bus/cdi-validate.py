#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cdi-validate.py [--schema-dir DIR] SPEC...

Validates Container Device Interface specs as a runtime reading them would:
against the CDI project's JSON schema (schema.json and defs.json, draft 7,
as Debian's golang-github-container-orchestrated-devices-container-device-
interface-dev ships them), then with the rules its Go package (0.5.x)
applies on top of the schema when it loads a spec: the cdiVersion it
knows, the kind's vendor/class grammar, device names, hook names,
environment entries, device nodes and mounts, and no field the spec's Go
types do not have (the package unmarshals strictly). Prints one line per
spec, "valid: FILE (N devices)" or "invalid: FILE: why", and exits 0 only
if every spec is valid (1 otherwise, 2 on usage errors).
"""
import json
import warnings
import os
import sys

import jsonschema

# Newer jsonschema releases deprecate RefResolver; Debian 12's 4.10 has nothing else.
warnings.filterwarnings("ignore", category=DeprecationWarning)

DEFAULT_SCHEMA_DIR = ("/usr/share/gocode/src/github.com/container-orchestrated-devices/"
                      "container-device-interface/schema")
# pkg/cdi/spec.go's validSpecVersions in 0.5.x; podman 4.3.1 refuses others.
VERSIONS = {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"}
HOOK_NAMES = {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
# specs-go/config.go's JSON fields, per type.
FIELDS = {
    "spec": {"cdiVersion", "kind", "devices", "containerEdits"},
    "device": {"name", "containerEdits"},
    "edits": {"env", "deviceNodes", "hooks", "mounts"},
    "node": {"path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid"},
    "mount": {"hostPath", "containerPath", "options", "type"},
    "hook": {"hookName", "path", "args", "env", "timeout"},
}


class Invalid(Exception):
    pass


def alnum(c):
    return c.isascii() and c.isalnum()


def letter(c):
    return c.isascii() and c.isalpha()


def grammar(what, s, first, middle):
    """pkg/cdi/qualified-device.go's Validate{Vendor,Class,Device}Name."""
    if not s:
        raise Invalid(f"empty {what}")
    if not first(s[0]):
        raise Invalid(f"{what} {s!r} starts with {s[0]!r}")
    for c in s[1:-1]:
        if not (alnum(c) or c in middle):
            raise Invalid(f"invalid character {c!r} in {what} {s!r}")
    if len(s) > 1 and not alnum(s[-1]):
        raise Invalid(f"{what} {s!r} ends with {s[-1]!r}")


def fields(kind, obj, where):
    if not isinstance(obj, dict):
        raise Invalid(f"{where}: not an object")
    extra = set(obj) - FIELDS[kind]
    if extra:
        raise Invalid(f"{where}: unknown field(s) {sorted(extra)}")


def env(entries, where):
    for e in entries or []:
        if not isinstance(e, str) or e.find("=") <= 0:
            raise Invalid(f"{where}: invalid environment variable {e!r}")


def edits(e, where):
    if e is None:
        return
    fields("edits", e, where)
    env(e.get("env"), where + ".env")
    for i, n in enumerate(e.get("deviceNodes") or []):
        fields("node", n, f"{where}.deviceNodes[{i}]")
        if not n.get("path"):
            raise Invalid(f"{where}.deviceNodes[{i}]: empty path")
        if n.get("type", "") not in ("", "b", "c", "u", "p"):
            raise Invalid(f"{where}.deviceNodes[{i}]: invalid type {n['type']!r}")
        if any(c not in "rwm" for c in n.get("permissions", "")):
            raise Invalid(f"{where}.deviceNodes[{i}]: invalid permissions {n['permissions']!r}")
    for i, h in enumerate(e.get("hooks") or []):
        w = f"{where}.hooks[{i}]"
        fields("hook", h, w)
        if h.get("hookName") not in HOOK_NAMES:
            raise Invalid(f"{w}: invalid hook name {h.get('hookName')!r}")
        if not h.get("path"):
            raise Invalid(f"{w}: empty path")
        env(h.get("env"), w + ".env")
    for i, m in enumerate(e.get("mounts") or []):
        w = f"{where}.mounts[{i}]"
        fields("mount", m, w)
        if not m.get("hostPath") or not m.get("containerPath"):
            raise Invalid(f"{w}: empty host or container path")


def validate(spec, validator):
    errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise Invalid("schema: " + "/".join(str(p) for p in e.path) + ": " + e.message)
    fields("spec", spec, "$")
    if spec["cdiVersion"] not in VERSIONS:
        raise Invalid(f"cdiVersion {spec['cdiVersion']!r} is none of {sorted(VERSIONS)}")
    vendor, sep, cls = spec["kind"].partition("/")
    if not sep:
        raise Invalid(f"kind {spec['kind']!r} is not VENDOR/CLASS")
    grammar("vendor", vendor, letter, "_-.")
    grammar("class", cls, letter, "_-")
    edits(spec.get("containerEdits"), "$.containerEdits")
    names = set()
    for i, d in enumerate(spec["devices"]):
        fields("device", d, f"$.devices[{i}]")
        grammar("device name", d["name"], alnum, "_-.:")
        if d["name"] in names:
            raise Invalid(f"device {d['name']!r} appears twice")
        names.add(d["name"])
        edits(d["containerEdits"], f"$.devices[{i}].containerEdits")
    return len(spec["devices"])


def main(argv):
    schema_dir = DEFAULT_SCHEMA_DIR
    if len(argv) > 2 and argv[1] == "--schema-dir":
        schema_dir = argv[2]
        argv = argv[2:]
    if len(argv) < 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    with open(os.path.join(schema_dir, "schema.json")) as f:
        schema = json.load(f)
    # schema.json refers to "defs.json#/definitions/...": resolve it in the same directory.
    resolver = jsonschema.RefResolver(base_uri="file://" + os.path.abspath(schema_dir) + "/", referrer=schema)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, resolver=resolver)
    rc = 0
    for path in argv[1:]:
        try:
            with open(path) as f:
                spec = json.load(f)
            n = validate(spec, validator)
            print(f"valid: {path} ({n} devices, kind {spec['kind']}, cdiVersion {spec['cdiVersion']})")
        except (Invalid, ValueError, OSError, KeyError, TypeError) as e:
            print(f"invalid: {path}: {e}")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""abi-lists: the header, the version script and the library agree
(DESIGN.md §4).

  ZTTP_EXTERN functions of include/zttp/zttp.h
    == global symbols of src/libzttp.map
    == functions exported by libzttp.so

The header is parsed in Python (comments, directives and C++-only branches
removed, file-scope statements split at ';' outside braces, so declarations
over several lines are whole), and cross-checked against gcc's own list of
the functions the header declares (-aux-info), which also proves no function
is declared without ZTTP_EXTERN.

usage: check_lists.py --header H --map MAP [--gcc GCC] [-I DIR]... [--nm NM]
                      LIBZTTP
SPDX-License-Identifier: MIT
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402


def diff_text(a_name, a, b_name, b):
    lines = []
    if a - b:
        lines.append("only in %s: %s" % (a_name, ", ".join(sorted(a - b))))
    if b - a:
        lines.append("only in %s: %s" % (b_name, ", ".join(sorted(b - a))))
    return "\n".join(lines) or None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--header", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--gcc", default="")
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("--nm", default="nm")
    ap.add_argument("lib")
    args = ap.parse_args()
    tap = abilib.Tap()

    # --- the header ----------------------------------------------------------
    try:
        exported, others, doc = abilib.parse_header(args.header)
    except (OSError, ValueError) as e:
        tap.ok(False, "parse %s" % args.header, str(e))
        return tap.done()
    header = set(exported)
    tap.ok(len(header) > 0, "the header declares %d ZTTP_EXTERN functions" % len(header))
    bad = sorted(n for n in header if not n.startswith("zttp_"))
    tap.ok(not bad, "every ZTTP_EXTERN function is named zttp_*",
           ", ".join(bad) if bad else None)
    tap.ok(not others,
           "every function the header declares is ZTTP_EXTERN, and no variable is exported",
           "\n".join("line %d: %s" % v for v in others.values()) if others else None)
    nodoc = sorted(n for n in header if "@since" not in doc.get(n, "")
                   or n not in doc.get(n, ""))
    tap.ok(not nodoc,
           "every ZTTP_EXTERN function has a doc comment naming it, with @since",
           "missing: " + ", ".join(nodoc) if nodoc else None)

    if args.gcc:
        try:
            seen = abilib.header_functions_gcc(args.gcc, args.header, args.includes)
            tap.ok(seen == header,
                   "gcc -aux-info sees exactly the ZTTP_EXTERN functions (%d)" % len(seen),
                   diff_text("gcc", seen, "ZTTP_EXTERN parse", header))
        except RuntimeError as e:
            tap.ok(False, "gcc -aux-info on the header", str(e))
    else:
        tap.skip("gcc -aux-info cross-check of the header parse", "gcc not found")

    # --- the version script ----------------------------------------------------
    try:
        nodes = abilib.parse_version_script(args.map)
    except (OSError, ValueError) as e:
        tap.ok(False, "parse %s" % args.map, str(e))
        return tap.done()
    tap.ok(bool(nodes) and all(n[0].startswith("ZTTP_") for n in nodes),
           "the version script has ZTTP_* nodes: %s" % [n[0] for n in nodes])
    mapped = []
    for _, globs, _, _ in nodes:
        mapped += globs
    wild = [g for g in mapped if any(c in g for c in "*?[")]
    tap.ok(not wild, "global symbols are listed one by one (no wildcard)",
           ", ".join(wild) if wild else None)
    dups = sorted({g for g in mapped if mapped.count(g) > 1})
    tap.ok(not dups, "no symbol is listed twice", ", ".join(dups) if dups else None)
    tap.ok(any(l == ["*"] for _, _, l, _ in nodes),
           "the version script hides everything else (local: *;)")
    mapset = set(mapped)

    # --- the library -------------------------------------------------------------
    syms = abilib.dynamic_symbols(args.nm, args.lib)
    libfuncs = {s[0] for s in syms if s[3] in ("T", "i")}

    tap.ok(header == mapset, "header ZTTP_EXTERN functions == version script globals",
           diff_text("header", header, "libzttp.map", mapset))
    tap.ok(mapset == libfuncs, "version script globals == functions exported by libzttp.so",
           diff_text("libzttp.map", mapset, "libzttp.so", libfuncs))
    tap.ok(header == libfuncs, "header ZTTP_EXTERN functions == functions exported by libzttp.so",
           diff_text("header", header, "libzttp.so", libfuncs))
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Converts the HPACK JSON vectors into the line format of stories.c.

    stories.py OUT VECTORS_DIR

Reads VECTORS_DIR/hpack-rfc7541-appendix-c.json and every
VECTORS_DIR/hpack-test-case/<encoder>/story_*.json and writes OUT:

    int <value> <prefix_bits> <wire>
    story <name> <num_cases> <max_table_size>
    case <name> <header_table_size|-1> <wire|-> <num_headers> <num_table|-1> <table_size_after|-1>
    h <name> <value>        one per header of the case, in order
    t <name> <value>        the dynamic table after the case, newest first

Strings are lowercase hex, "-" when empty. An Appendix C group whose cases
share no context becomes one story per case.
SPDX-License-Identifier: MIT
"""
import glob
import json
import os
import sys


def hx(s):
    if isinstance(s, str):
        try:
            s = s.encode("latin-1")
        except UnicodeEncodeError:
            s = s.encode("utf-8")
    return s.hex() or "-"


def main():
    out_path, vec = sys.argv[1], sys.argv[2]
    lines = []
    w = lines.append
    with open(os.path.join(vec, "hpack-rfc7541-appendix-c.json")) as f:
        rfc = json.load(f)
    for x in rfc["integer_examples"]:
        w("int %d %d %s" % (x["value"], x["prefix_bits"], x["wire"]))
    for g in rfc["groups"]:
        groups = [g["cases"]] if g["shared_context"] else [[c] for c in g["cases"]]
        for cases in groups:
            name = g["section"] if g["shared_context"] else cases[0]["section"]
            w("story rfc7541/%s %d %d" % (name, len(cases), g["max_table_size"]))
            for c in cases:
                w("case %s -1 %s %d %d %d" % (c["section"], c["wire"], len(c["headers"]),
                                              len(c["dynamic_table_after"]),
                                              c["dynamic_table_size_after"]))
                for n, v in c["headers"]:
                    w("h %s %s" % (hx(n), hx(v)))
                for n, v in c["dynamic_table_after"]:
                    w("t %s %s" % (hx(n), hx(v)))
    base = os.path.join(vec, "hpack-test-case")
    for path in sorted(glob.glob(os.path.join(base, "*", "story_*.json"))):
        with open(path) as f:
            story = json.load(f)
        name = os.path.relpath(path, base)[:-len(".json")]
        cases = story["cases"]
        w("story %s %d 4096" % (name, len(cases)))
        for i, c in enumerate(cases):
            ts = c.get("header_table_size")
            hdrs = [next(iter(h.items())) for h in c["headers"]]
            w("case %d %d %s %d -1 -1" % (c.get("seqno", i), -1 if ts is None else ts,
                                          c.get("wire") or "-", len(hdrs)))
            for n, v in hdrs:
                w("h %s %s" % (hx(n), hx(v)))
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

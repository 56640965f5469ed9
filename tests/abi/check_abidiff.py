#!/usr/bin/python3
"""abi-abidiff: libzttp.so against the committed ABI baseline
tests/abi/libzttp.abi (DESIGN.md §4).

The library is described with abidw (the options in abilib.ABIDW_OPTIONS,
the same ones scripts/update-abi-baseline uses) and compared with abidiff:

  exit 0                    no ABI change                        -> pass
  exit 4, additions only    new functions (compatible)           -> pass, with a
                                                                    notice
  exit 4, anything else     an existing interface changed        -> FAIL
  bit 8 set                 a function or the SONAME went away   -> FAIL
  bit 1 or 2 set            abidiff failed                       -> FAIL

Why exit 4 is not simply a pass: libabigail 2.2 sets bit 8
(ABIDIFF_ABI_INCOMPATIBLE_CHANGE) only for removed symbols and SONAME or
architecture changes. Changing a parameter from size_t to uint32_t, a
return type, adding a parameter, or growing struct zttp_event all exit with
4 alone, exactly like adding a function (measured; see tests/abi/README.md).
So exit 4 passes only if abidiff finds nothing once added symbols are
ignored (--no-added-syms).

An intended incompatible change needs a SONAME bump (rules in meson.build)
and then scripts/update-abi-baseline; additions need lt_current/lt_age
bumped when released and may refresh the baseline the same way.

The test is skipped (not failed) when the library has no debug info at all
(a build without -g: abidw then sees only symbol names, and abidiff would
pass anything) or when the baseline is for another architecture.

usage: check_abidiff.py --abidw P --abidiff P --baseline F --headers-dir D
                        LIBZTTP
SPDX-License-Identifier: MIT
"""

import argparse
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402

UPDATE = "scripts/update-abi-baseline"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--abidw", default="")
    ap.add_argument("--abidiff", default="")
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--headers-dir", required=True)
    ap.add_argument("lib")
    args = ap.parse_args()
    tap = abilib.Tap()

    abidw = abilib.find_tool("abidw", args.abidw)
    abidiff = abilib.find_tool("abidiff", args.abidiff)
    if not abidw or not abidiff:
        tap.ok(False, "abidw and abidiff are installed",
               "install them: apt-get install abigail-tools")
        return tap.done()
    version = abilib.run([abidw, "--version"], check=False).stdout.strip()

    if not os.path.exists(args.baseline):
        tap.ok(False, "the baseline %s exists" % args.baseline,
               "create it with %s" % UPDATE)
        return tap.done()

    with tempfile.TemporaryDirectory(prefix="zttp-abi-") as tmp:
        cur = os.path.join(tmp, "current.abi")
        cur2 = os.path.join(tmp, "current2.abi")
        try:
            abilib.abidw(abidw, args.lib, args.headers_dir, cur)
        except RuntimeError as e:
            tap.ok(False, "abidw describes %s" % args.lib, str(e))
            return tap.done()

        arch, soname, syms, described = abilib.corpus_info(cur)
        b_arch, b_soname, b_syms, b_described = abilib.corpus_info(args.baseline)
        if not described:
            tap.skip_all("libzttp.so has no debug info (build with -g: buildtype "
                         "debug or debugoptimized); abidiff cannot compare types")
        if arch != b_arch:
            tap.skip_all("the baseline is for %s, this library is %s" % (b_arch, arch))
        tap.diag("%s; library %s (%s), baseline %s" % (version, soname, arch, args.baseline))

        tap.ok(syms == described,
               "every exported function of libzttp.so has debug info (%d)" % len(syms),
               "no DWARF for: " + ", ".join(sorted(syms - described))
               if syms != described else None)
        tap.ok(b_syms and b_syms == b_described,
               "the baseline describes every function it lists (%d)" % len(b_syms))

        abilib.abidw(abidw, args.lib, args.headers_dir, cur2)
        with open(cur, "rb") as a, open(cur2, "rb") as b:
            same = a.read() == b.read()
        tap.ok(same, "abidw output is reproducible (two runs are identical)")

        tap.ok(soname == b_soname,
               "the baseline is for this SONAME (%s)" % soname,
               None if soname == b_soname else
               "baseline SONAME %s, library %s: after a SONAME bump, run %s"
               % (b_soname, soname, UPDATE))

        verdict, rc, report = abilib.classify_abidiff(abidiff, args.baseline, cur)
        if verdict == "same":
            tap.ok(True, "abidiff: no ABI change against the baseline (exit 0)")
        elif verdict == "added":
            tap.ok(True, "abidiff: compatible additions only (exit %d)" % rc)
            tap.diag("NOTICE: the ABI grew. When this ships, bump lt_current and "
                     "lt_age in meson.build, then refresh the baseline with %s.\n%s"
                     % (UPDATE, report))
        elif verdict == "changed":
            tap.ok(False, "abidiff: an existing interface changed (exit %d)" % rc,
                   "Never change a shipped signature or public struct; add name2 "
                   "instead. If the break is intended: bump the SONAME (rules in "
                   "meson.build), then run %s.\n%s" % (UPDATE, report))
        elif verdict == "incompatible":
            tap.ok(False, "abidiff: incompatible ABI change (exit %d, bit 8)" % rc,
                   "If intended: bump the SONAME (rules in meson.build), then run "
                   "%s.\n%s" % (UPDATE, report))
        else:
            tap.ok(False, "abidiff ran (exit %d)" % rc, report)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

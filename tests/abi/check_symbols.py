#!/usr/bin/python3
"""abi-symbols: what libzttp.so exports (DESIGN.md §4).

 - every defined dynamic symbol is a function named zttp_*, bound to a
   ZTTP_* version node (the node itself, an absolute symbol, is skipped);
 - no exported data object;
 - no BoringSSL symbol is defined (re-exported) by libzttp: the names that
   BoringSSL's libssl/libcrypto export and libzttp defines must not meet;
 - the SONAME is libzttp.so.<soversion from meson.build>;
 - no OpenSSL 3 library is linked (TOOLCHAIN.md: the trap where
   find_library() falls back to OpenSSL's libssl.so).

usage: check_symbols.py --nm NM --readelf READELF --soversion N
                        --boringssl-libdir DIR LIBZTTP
SPDX-License-Identifier: MIT
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abilib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("--soversion", required=True)
    ap.add_argument("--boringssl-libdir", required=True)
    ap.add_argument("lib")
    args = ap.parse_args()
    tap = abilib.Tap()

    syms = abilib.dynamic_symbols(args.nm, args.lib)
    exported = [s for s in syms if s[3] != "A"]  # 'A': the version node
    nodes = sorted({s[0] for s in syms if s[3] == "A"})
    tap.diag("%d exported symbols, version nodes %s" % (len(exported), nodes))
    tap.ok(len(exported) > 0, "libzttp exports symbols")

    bad = [s[0] for s in exported if not s[0].startswith("zttp_")]
    tap.ok(not bad, "every exported symbol starts with zttp_",
           "not zttp_*: " + ", ".join(sorted(bad)) if bad else None)

    bad = [s[0] for s in syms if s[3] == "A" and not s[0].startswith("ZTTP_")]
    tap.ok(not bad, "every version node is ZTTP_*",
           "unexpected absolute symbols: %s" % bad if bad else None)

    notfunc = ["%s (%s)" % (s[0], s[3]) for s in exported if s[3] not in ("T", "i")]
    tap.ok(not notfunc, "every exported symbol is a function (no exported data)",
           "non-function exports: " + ", ".join(sorted(notfunc)) if notfunc else None)

    unversioned = [s[0] for s in exported
                   if not (s[1] and s[1].startswith("ZTTP_") and s[2])]
    tap.ok(not unversioned,
           "every export has a default ZTTP_* version (the version script applied)",
           "unversioned or non-default: " + ", ".join(sorted(unversioned))
           if unversioned else None)

    # BoringSSL re-export: intersect with what BoringSSL itself exports.
    boring = set()
    checked = []
    for name in ("libssl.so", "libcrypto.so"):
        path = os.path.join(args.boringssl_libdir, name)
        if os.path.exists(path):
            checked.append(path)
            boring |= {s[0] for s in abilib.dynamic_symbols(args.nm, path)
                       if s[3] != "A"}
    if checked:
        clash = sorted({s[0] for s in exported} & boring)
        tap.ok(not clash and len(boring) > 100,
               "no BoringSSL symbol is exported (checked against %d names of %s)"
               % (len(boring), ", ".join(os.path.basename(c) for c in checked)),
               "re-exported: " + ", ".join(clash[:50]) if clash else None)
    else:
        tap.skip("no BoringSSL symbol is exported",
                 "BoringSSL not found in %s" % args.boringssl_libdir)
    prefixes = ("SSL_", "EVP_", "HKDF", "RAND_", "CRYPTO_", "OPENSSL_", "BIO_",
                "ERR_", "AES_", "X509", "PEM_", "BN_", "EC_")
    clash = sorted(s[0] for s in exported if s[0].startswith(prefixes))
    tap.ok(not clash, "no symbol with a BoringSSL prefix is exported",
           ", ".join(clash) if clash else None)

    soname, needed = abilib.elf_dynamic(args.readelf, args.lib)
    tap.eq(soname, "libzttp.so." + args.soversion,
           "SONAME is libzttp.so.<soversion> from meson.build")
    tap.diag("DT_NEEDED: %s" % ", ".join(needed))
    openssl3 = [n for n in needed if n in ("libssl.so.3", "libcrypto.so.3")]
    tap.ok(not openssl3, "not linked against OpenSSL 3 (BoringSSL only)",
           "NEEDED: %s" % openssl3 if openssl3 else None)

    return tap.done()


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the ABI guard suite (tests/abi) and
scripts/update-abi-baseline: TAP output, the public header parser, the
version-script parser, nm, and the one set of abidw options.

Only the Python standard library is used (Debian's /usr/bin/python3).
SPDX-License-Identifier: MIT
"""

import os
import re
import shutil
import subprocess
import sys

# --------------------------------------------------------------------------
# TAP (meson `protocol: 'tap'`)
# --------------------------------------------------------------------------


class Tap:
    """Prints one TAP line per check as it runs and the plan at the end."""

    def __init__(self, out=sys.stdout):
        self.out = out
        self.n = 0
        self.failed = 0

    def diag(self, text):
        for line in str(text).rstrip("\n").split("\n"):
            self.out.write("# " + line + "\n")
        self.out.flush()

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        self.out.write("%s %d - %s\n" % ("ok" if cond else "not ok", self.n, name))
        if diag is not None and (not cond or diag):
            self.diag(diag)
        self.out.flush()
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name,
                       None if got == want else "got:  %r\nwant: %r" % (got, want))

    def skip(self, name, reason):
        self.n += 1
        self.out.write("ok %d - %s # SKIP %s\n" % (self.n, name, reason))
        self.out.flush()

    def skip_all(self, reason):
        """Whole-test skip; only valid before any check ran."""
        assert self.n == 0
        self.out.write("1..0 # SKIP %s\n" % reason)
        self.out.flush()
        sys.exit(0)

    def bail(self, reason):
        self.out.write("Bail out! %s\n" % reason)
        self.out.flush()
        sys.exit(1)

    def done(self):
        self.out.write("1..%d\n" % self.n)
        self.out.flush()
        return 1 if self.failed else 0


def run(cmd, check=True, **kw):
    """Runs |cmd| (a list), returns CompletedProcess with text output."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s%s" % (
            " ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc


# --------------------------------------------------------------------------
# The public header
# --------------------------------------------------------------------------

_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_COND_RE = re.compile(r"#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)")


def _blank_comments(text):
    """Replaces comments by spaces, keeping newlines (so line numbers hold)."""
    return _COMMENT_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _strip_preprocessor(text):
    """Drops every preprocessor directive (with its backslash continuations)
    and the lines of `#if*` branches that are taken only for C++ (extern "C"
    wrappers): a C compiler never sees them. Other conditional branches are
    all kept (they only select ZTTP_EXTERN's definition)."""
    lines = text.split("\n")
    out = []
    # Stack of (cplusplus_group, in_cplusplus_branch).
    stack = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("#"):
            directive = line
            while directive.endswith("\\") and i + 1 < len(lines):
                i += 1
                directive = directive[:-1] + " " + lines[i]
                out.append("")
            m = _COND_RE.match(directive.strip())
            if m:
                kind, cond = m.group(1), m.group(2)
                if kind in ("if", "ifdef", "ifndef"):
                    cpp = "__cplusplus" in cond
                    # `#ifdef __cplusplus` / `#if defined(__cplusplus)`: the
                    # branch is C++-only; `#ifndef __cplusplus`: C-only.
                    cpp_branch = cpp and kind != "ifndef" and "!" not in cond
                    stack.append((cpp, cpp_branch))
                elif kind in ("elif", "else") and stack:
                    cpp, cpp_branch = stack[-1]
                    if cpp:
                        stack[-1] = (cpp, not cpp_branch)
                elif kind == "endif" and stack:
                    stack.pop()
            out.append("")
        elif any(cpp and cpp_branch for cpp, cpp_branch in stack):
            out.append("")
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


def _top_level_statements(text):
    """Splits C source (no comments, no directives) into file-scope
    statements: text up to a ';' at brace depth 0. Yields (line, statement)
    with whitespace collapsed."""
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced '}' at line %d" % (text.count("\n", 0, i) + 1))
        elif ch == ";" and depth == 0:
            chunk = text[start:i]
            stmt = " ".join(chunk.split())
            if stmt:
                first = start + (len(chunk) - len(chunk.lstrip()))
                yield text.count("\n", 0, first) + 1, stmt
            start = i + 1
    if depth != 0:
        raise ValueError("unbalanced braces")
    rest = " ".join(text[start:].split())
    if rest:
        raise ValueError("trailing text without ';': %r" % rest[:80])


_DECL_RE = re.compile(r"^(?P<ret>.*?)\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>.*)\)$")


def parse_header(path):
    """Parses include/zttp/zttp.h. Returns (exported, other_functions, doc):
    exported maps every function declared with ZTTP_EXTERN to
    (line, normalized declaration); other_functions maps file-scope function
    declarations without ZTTP_EXTERN and exported variables (both should be
    none; variables are keyed "<data> ..."); doc maps each exported
    name to the comment block right above its declaration."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    text = _strip_preprocessor(_blank_comments(raw))
    exported = {}
    others = {}
    for line, stmt in _top_level_statements(text):
        if stmt.startswith("ZTTP_EXTERN ") and "(" not in stmt:
            # An exported variable: its size and layout would be ABI that
            # ctypes binds by address; the header has none and must not.
            others["<data> " + stmt] = (line, stmt)
            continue
        if stmt.startswith("typedef") or "(" not in stmt:
            continue
        # A file-scope declaration with parentheses and no braces is a
        # function prototype (a variable of function-pointer type would
        # need a typedef here, which the header does not use).
        if "{" in stmt:
            continue
        is_extern = stmt.startswith("ZTTP_EXTERN ")
        decl = stmt[len("ZTTP_EXTERN "):] if is_extern else stmt
        m = _DECL_RE.match(decl)
        if not m:
            raise ValueError("line %d: cannot parse declaration %r" % (line, stmt))
        name = m.group("name")
        target = exported if is_extern else others
        if name in target:
            raise ValueError("line %d: %s declared twice" % (line, name))
        target[name] = (line, decl)
    doc = {}
    raw_lines = raw.split("\n")
    for name, (line, _) in exported.items():
        # Walk up from the declaration to the comment right above it.
        j = line - 2
        while j >= 0 and not raw_lines[j].strip():
            j -= 1
        block = []
        if j >= 0 and raw_lines[j].rstrip().endswith("*/"):
            while j >= 0:
                block.append(raw_lines[j])
                if "/*" in raw_lines[j]:
                    break
                j -= 1
        doc[name] = "\n".join(reversed(block))
    return exported, others, doc


def header_functions_gcc(gcc, header, include_dirs):
    """Every function the compiler sees declared in |header| (gcc
    -aux-info), as a set of names; an independent cross-check of
    parse_header()."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        aux = os.path.join(tmp, "aux.txt")
        cmd = [gcc, "-aux-info", aux, "-fsyntax-only", "-x", "c"]
        for d in include_dirs:
            cmd += ["-I", d]
        run(cmd + [header])
        names = set()
        want = os.path.realpath(header)
        with open(aux, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"/\* (.*?):(\d+):\w+ \*/ (.*)$", line.rstrip("\n"))
                if not m:
                    continue
                path = m.group(1)
                if not os.path.isabs(path):
                    path = os.path.join(os.getcwd(), path)
                if os.path.realpath(path) != want:
                    continue
                d = _DECL_RE.match(m.group(3).rstrip(";").strip())
                if d:
                    names.add(d.group("name"))
        return names


# --------------------------------------------------------------------------
# The linker version script
# --------------------------------------------------------------------------


def parse_version_script(path):
    """Parses src/libzttp.map. Returns a list of nodes
    (name, globals list, locals list, parent or None)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    nodes = []
    pos = 0
    node_re = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([A-Za-z_][\w.]*)?\s*;", re.S)
    while True:
        m = node_re.match(text, pos)
        if not m:
            break
        name, body, parent = m.group(1), m.group(2), m.group(3)
        globs, locs = [], []
        section = globs  # ld: symbols before any label are global
        for tok in re.split(r";", body):
            tok = tok.strip()
            if not tok:
                continue
            lm = re.match(r"(global|local)\s*:\s*(.*)$", tok, re.S)
            if lm:
                section = globs if lm.group(1) == "global" else locs
                tok = lm.group(2).strip()
                if not tok:
                    continue
            section.append(tok)
        nodes.append((name, globs, locs, parent))
        pos = m.end()
    if text[pos:].strip():
        raise ValueError("cannot parse version script near %r" % text[pos:pos + 60])
    return nodes


# --------------------------------------------------------------------------
# The library's dynamic symbol table
# --------------------------------------------------------------------------


def dynamic_symbols(nm, lib, defined_only=True):
    """Returns [(name, version or None, default_version, type letter)]."""
    args = [nm, "-D"]
    if defined_only:
        args.append("--defined-only")
    out = run(args + [lib]).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            _, kind, sym = parts
        elif len(parts) == 2:
            kind, sym = parts
        else:
            continue
        version = None
        default = False
        if "@@" in sym:
            sym, version = sym.split("@@", 1)
            default = True
        elif "@" in sym:
            sym, version = sym.split("@", 1)
        syms.append((sym, version, default, kind))
    return syms


def elf_dynamic(readelf, lib):
    """Returns (soname, [needed]) from the dynamic section."""
    out = run([readelf, "-d", lib]).stdout
    soname = None
    needed = []
    for line in out.splitlines():
        m = re.search(r"\((SONAME|NEEDED)\)\s+.*\[(.*)\]", line)
        if m:
            if m.group(1) == "SONAME":
                soname = m.group(2)
            else:
                needed.append(m.group(2))
    return soname, needed


# --------------------------------------------------------------------------
# abidw / abidiff
# --------------------------------------------------------------------------

# The one set of abidw options, for the committed baseline and for the
# library under test alike. Each removes something that is not the public
# ABI or that changes with the build tree:
#  --headers-dir + --drop-private-types: only types declared in
#      include/zttp count; struct zttp_conn and zttp_config stay opaque
#      (declaration-only) although src/ defines them, so internal layout
#      changes are not ABI changes.
#  --exported-interfaces-only: only functions with an exported ELF symbol
#      (hidden internal variables such as engine vtables are left out).
#  --drop-undefined-syms: no libc/BoringSSL functions zttp merely calls.
#  --no-elf-needed: DT_NEEDED (which BoringSSL libraries are linked) is not
#      an interface of zttp.
#  --no-corpus-path, --no-comp-dir-path, --no-show-locs: no absolute paths,
#      build directories or line numbers, so the baseline only changes when
#      the ABI does.
#  --type-id-style hash: type ids derived from the type, not from the order
#      the types were met, so an addition does not renumber the whole file.
ABIDW_OPTIONS = [
    "--no-corpus-path", "--no-comp-dir-path", "--no-show-locs",
    "--drop-undefined-syms", "--no-elf-needed", "--type-id-style", "hash",
    "--drop-private-types", "--exported-interfaces-only",
]

# abidiff exit status bits (abidiff(1)).
ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_CHANGE = 4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8


def find_tool(name, given=None):
    if given:
        return given
    return shutil.which(name)


def abidw(abidw_path, lib, headers_dir, out_file, source_root=None):
    """Writes the public ABI of |lib| to |out_file| with ABIDW_OPTIONS.

    abidw names each translation unit by the path the compiler was given
    (relative to the build directory, e.g. '../../checkout/src/conn.c').
    abidiff ignores it, but it would put the checkout's location into the
    committed baseline, so it is rewritten relative to |source_root|
    (default: the parent of |headers_dir|'s 'include')."""
    run([abidw_path] + ABIDW_OPTIONS + ["--headers-dir", headers_dir,
                                        "--out-file", out_file, lib])
    if source_root is None:
        source_root = os.path.dirname(os.path.dirname(os.path.abspath(headers_dir)))
    comp_dir = os.path.dirname(os.path.abspath(lib))  # meson: the build root

    def norm(m):
        path = m.group(2)
        full = os.path.normpath(os.path.join(comp_dir, path))
        rel = os.path.relpath(full, source_root)
        if rel.startswith(".."):
            rel = path  # outside the tree: leave it
        return m.group(1) + rel + "'"

    with open(out_file, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(<abi-instr [^>]*?path=')([^']*)'", norm, text)
    with open(out_file, "w", encoding="utf-8") as f:
        f.write(text)


def corpus_info(abi_file):
    """Returns (architecture, soname, exported function symbols, function
    symbols that have a DWARF description) of an abidw XML file."""
    with open(abi_file, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<abi-corpus\b([^>]*)>", text)
    attrs = dict(re.findall(r"(\w[\w-]*)='([^']*)'", m.group(1))) if m else {}
    syms = set(re.findall(r"<elf-symbol name='([^']+)'[^>]*type='func-type'", text))
    described = set(re.findall(r"<function-decl [^>]*elf-symbol-id='([^'@]+)", text))
    return attrs.get("architecture"), attrs.get("soname"), syms, described


def classify_abidiff(abidiff_path, old, new, extra=()):
    """Compares two abidw files. Returns (verdict, exit status, report):
    verdict is 'same', 'added' (only new functions/variables: compatible),
    'changed' (an existing interface changed: abidiff exits 4 but cannot
    prove it compatible), 'incompatible' (bit 8: a symbol or the SONAME went
    away or changed) or 'error'."""
    proc = run([abidiff_path] + list(extra) + [old, new], check=False)
    rc = proc.returncode
    report = proc.stdout + proc.stderr
    if rc < 0 or rc & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        return "error", rc, report
    if rc & ABIDIFF_ABI_INCOMPATIBLE_CHANGE:
        return "incompatible", rc, report
    if rc == 0:
        return "same", rc, report
    # Bit 4 alone. libabigail (2.2) sets bit 8 only for removed symbols and
    # SONAME/architecture changes: a changed parameter type, return type or
    # struct layout is reported with bit 4 alone, exactly like an added
    # function. Tell them apart: without the added symbols, does anything
    # remain?
    proc2 = run([abidiff_path] + list(extra) + ["--no-added-syms", old, new],
                check=False)
    if proc2.returncode == 0:
        return "added", rc, report
    return "changed", rc, report

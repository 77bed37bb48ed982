#!/usr/bin/env python3
"""Fails on an import cycle between the modules (files) of a crate: a module that uses another,
directly or through others, which uses it back. `mod x;` declarations are not uses; a path is
resolved to the deepest module file it names (`super::latest::Latest` is steps/latest.rs,
`super::StepError` is steps/mod.rs). Usage: scripts/module-cycles.py [CRATE_SRC_DIR...]"""
import os
import re
import sys

USE = re.compile(r"\b(crate|super)((?:::\w+)+|::\{)")


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main", "mod"):
                rel = rel[:-1]
            out[tuple(rel)] = os.path.join(root, f)
    return out


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    # Unit tests of a module (its `mod tests`) are part of it; their uses are left out like tests/.
    return text.split("#[cfg(test)]")[0]


def uses(text):
    """Paths (first word crate/super, then names) used in text, with `use a::{b, c::d}` expanded."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        found.extend(expand(m.group(1).replace(" ", "").replace("\n", "")))
    for m in USE.finditer(text):
        if m.group(2) != "::{":
            found.append(m.group(1) + m.group(2))
    return [p.split("::") for p in found if p.startswith(("crate", "super"))]


def expand(tree):
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for c in body:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += c == "{"
        depth -= c == "}"
        cur += c
    parts.append(cur)
    return [p for part in parts if part for p in expand(head + part)]


def resolve(here, path, mods):
    mod = list(here)
    words = path[1:]
    if path[0] == "crate":
        mod = []
    else:
        mod = mod[:-1]
        while words and words[0] == "super":
            mod, words = mod[:-1], words[1:]
    best = tuple(mod)
    for w in words:
        mod.append(w)
        if tuple(mod) in mods:
            best = tuple(mod)
        else:
            break
    return best


def cycles(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        # A file's own module path, for `super`: mod.rs and lib.rs are their folder's module.
        here = m + ("",) if os.path.basename(f) in ("mod.rs", "lib.rs", "main.rs") else m
        for p in uses(strip(open(f, encoding="utf-8").read())):
            t = resolve(here, p, mods)
            if t != m and t in mods:
                edges[m].add(t)
    # Tarjan's strongly connected components.
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)
    return [[mods[m] for m in c] for c in out], {mods[a]: sorted(mods[b] for b in bs) for a, bs in edges.items()}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = sys.argv[1:] or sorted(
        os.path.join(root, "functions", d, "src") for d in os.listdir(os.path.join(root, "functions"))
    )
    bad = 0
    for src in dirs:
        found, edges = cycles(src)
        for c in found:
            bad += 1
            print(f"import cycle: {' -> '.join(os.path.relpath(f, root) for f in c)}")
            for f in c:
                back = [os.path.relpath(t, root) for t in edges[f] if t in c]
                print(f"  {os.path.relpath(f, root)} uses {', '.join(back)}")
    if bad:
        sys.exit(1)
    print(f"no import cycles between modules ({len(dirs)} crates)")


if __name__ == "__main__":
    main()

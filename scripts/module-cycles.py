#!/usr/bin/env python3
"""Lists the import cycles between the files of a Rust crate.

    scripts/module-cycles.py [--edges] CRATE_DIR...

For each crate (a directory with src/lib.rs or src/main.rs) it follows the `mod` declarations
from the crate root, resolves every in-crate path a file names (`use crate::...`,
`use super::...`, `crate::x::y(...)`, a child module or an imported name used as a path prefix)
to the file that defines the item, following re-exports (`pub use`) to where the item really is,
and prints each strongly connected component of that file graph with more than one file: a
group of files each of which, through the others, depends on itself. Declaring a module
(`mod x;`) is not a dependency; importing a module (`use crate::x;`) is not one either until a
path through it names an item.

With --edges it also prints every file's in-crate dependencies. Exits 1 if any crate has a
cycle, 0 otherwise. No dependencies beyond Python 3.
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ITEM_RE = re.compile(
    r"\b(?:struct|enum|union|trait|type|fn|const|static|mod|macro_rules!)\s+(" + IDENT + r")"
)
MOD_DECL_RE = re.compile(
    r"(?:#\[path\s*=\s*\"([^\"]+)\"\]\s*)?"
    r"(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])"
)
USE_RE = re.compile(r"(?:pub(?:\s*\([^)]*\))?\s+)?\buse\s+([^;]*);")
PATH_RE = re.compile(r"(?<![A-Za-z0-9_:])(" + IDENT + r"(?:\s*::\s*" + IDENT + r")+)")
KEYWORDS = {"crate", "super", "self"}


def strip_comments_and_strings(text):
    """Blanks comments, string and char literals (keeping offsets and newlines)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 40]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_use_tree(tree, prefix=()):
    """Yields (path, alias) for each leaf of a use tree; alias '*' is a glob."""
    tree = tree.strip()
    depth, parts, start = 0, [], 0
    brace = tree.find("{")
    if brace >= 0:
        head = [s.strip() for s in tree[:brace].split("::") if s.strip()]
        inner = tree[brace + 1:tree.rfind("}")]
        for i, ch in enumerate(inner):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(inner[start:i])
                start = i + 1
        parts.append(inner[start:])
        for part in parts:
            if part.strip():
                yield from parse_use_tree(part, prefix + tuple(head))
        return
    alias = None
    m = re.match(r"(.*?)\s+as\s+(" + IDENT + r")$", tree)
    if m:
        tree, alias = m.group(1), m.group(2)
    segs = [s.strip() for s in tree.split("::") if s.strip()]
    if not segs:
        return
    if segs == ["self"]:
        path = prefix
    else:
        path = prefix + tuple(segs)
    if not path:
        return
    if path[-1] == "*":
        yield path[:-1], "*"
    else:
        yield path, alias or path[-1]


class Module:
    def __init__(self, path, file, text):
        self.path = path  # tuple of names below the crate root
        self.file = file
        self.text = text  # this module's own source, child inline modules blanked
        self.children = {}  # name -> module path
        self.imports = {}  # local name -> (path as written, the module it was written in)
        self.globs = []  # paths as written
        self.items = set()


class Crate:
    def __init__(self, root_dir):
        self.root_dir = Path(root_dir)
        src = self.root_dir / "src"
        root = src / "lib.rs"
        if not root.exists():
            root = src / "main.rs"
        if not root.exists():
            sys.exit(f"{root_dir}: no src/lib.rs or src/main.rs")
        self.modules = {}
        self.load_file((), root, mod_rs=True)
        for module in self.modules.values():
            self.index(module)

    def load_file(self, path, file, mod_rs):
        text = strip_comments_and_strings(file.read_text())
        self.load_text(path, file, text, file.parent if mod_rs else file.with_suffix(""))

    def load_text(self, path, file, text, child_dir):
        """Registers the module at `path` from `text`, recursing into its `mod` declarations."""
        module = Module(path, file, text)
        self.modules[path] = module
        own = list(text)
        pos = 0
        while True:
            m = MOD_DECL_RE.search(text, pos)
            if not m:
                break
            custom_path, name, end = m.group(1), m.group(2), m.group(3)
            module.children[name] = path + (name,)
            if end == ";":
                if custom_path:
                    child = child_dir / custom_path if path else file.parent / custom_path
                    self.load_file(path + (name,), child, mod_rs=child.name == "mod.rs")
                else:
                    flat, nested = child_dir / f"{name}.rs", child_dir / name / "mod.rs"
                    if flat.exists():
                        self.load_file(path + (name,), flat, mod_rs=False)
                    elif nested.exists():
                        self.load_file(path + (name,), nested, mod_rs=True)
                pos = m.end()
            else:
                open_at = m.end() - 1
                depth, j = 0, open_at
                while j < len(text):
                    if text[j] == "{":
                        depth += 1
                    elif text[j] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                inner = " " * (open_at + 1) + text[open_at + 1:j] + " " * (len(text) - j)
                self.load_text(path + (name,), file, inner, child_dir / name)
                for k in range(open_at + 1, j):
                    if own[k] != "\n":
                        own[k] = " "
                pos = j + 1
        module.text = "".join(own)

    def index(self, module):
        text = module.text
        # Items at the top of the module only: a method named like a re-exported item must
        # not hide the re-export.
        depth, top = 0, []
        for ch in text:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            top.append(ch if depth == 0 or ch == "\n" else " ")
        module.items = set(ITEM_RE.findall("".join(top)))
        uses = []
        for m in USE_RE.finditer(text):
            for path, alias in parse_use_tree(m.group(1)):
                if alias == "*":
                    module.globs.append(path)
                elif alias != "_":
                    module.imports[alias] = path
                uses.append((path, alias))
        module.uses = uses
        # Paths in code, outside the use declarations.
        module.code_paths = [
            tuple(s.strip() for s in p.split("::"))
            for p in PATH_RE.findall(USE_RE.sub(" ", text))
        ]

    def absolute(self, ctx, segs, seen=None):
        """The path from the crate root that `segs`, written in module `ctx`, names, or None."""
        if not segs:
            return None
        seen = seen or set()
        first, rest = segs[0], tuple(segs[1:])
        if first == "crate":
            return rest
        if first == "self":
            return ctx + rest
        if first == "super":
            base = ctx
            while segs and segs[0] == "super":
                if not base:
                    return None
                base, segs = base[:-1], segs[1:]
            return self.absolute(base, ("self",) + tuple(segs), seen)
        module = self.modules.get(ctx)
        if module is None:
            return None
        if first in module.children:
            return module.children[first] + rest
        if first in module.imports and (ctx, first) not in seen:
            seen.add((ctx, first))
            target = self.absolute(ctx, module.imports[first], seen)
            return None if target is None else target + rest
        return None

    def defining_file(self, path, seen=None):
        """The file of the item at absolute `path`, following re-exports; None if not ours."""
        seen = seen or set()
        i = len(path)
        while i > 0 and path[:i] not in self.modules:
            i -= 1
        module = self.modules[path[:i]]
        if i == len(path):
            return None  # a module itself: naming it is not yet using it
        name = path[i]
        if name in module.items or name in module.children:
            return module.file
        if name in module.imports and (module.path, name) not in seen:
            seen.add((module.path, name))
            target = self.absolute(module.path, module.imports[name])
            if target is not None:
                return self.defining_file(target + path[i + 1:], seen)
            return module.file
        for glob in module.globs:
            base = self.absolute(module.path, glob)
            if base is not None and base in self.modules and (base, name) not in seen:
                seen.add((base, name))
                found = self.defining_file(base + path[i:], seen)
                if found is not None and found != self.modules[base].file or (
                    name in self.modules[base].items
                ):
                    return found
        return module.file

    def graph(self):
        edges = {}
        for module in self.modules.values():
            out = edges.setdefault(module.file, set())
            written = [p for p, alias in module.uses if alias != "*"]
            written += list(module.code_paths)
            for segs in written:
                path = self.absolute(module.path, segs)
                if path is None:
                    continue
                target = self.defining_file(path)
                if target is not None and target != module.file:
                    out.add(target)
            for glob in module.globs:
                base = self.absolute(module.path, glob)
                if base in self.modules and self.modules[base].file != module.file:
                    out.add(self.modules[base].file)
        return edges


def strongly_connected(edges):
    """Tarjan's algorithm, iterative: the components of the graph `edges`."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                comps.append(comp)
    return comps


def main(argv):
    show_edges = "--edges" in argv
    crate_dirs = [a for a in argv[1:] if a != "--edges"]
    if not crate_dirs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    found = False
    for crate_dir in crate_dirs:
        crate = Crate(crate_dir)
        edges = crate.graph()
        src = crate.root_dir / "src"
        if show_edges:
            for f in sorted(edges):
                targets = sorted(str(t.relative_to(src)) for t in edges[f])
                print(f"{crate_dir}/src/{f.relative_to(src)} -> {', '.join(targets)}")
        cycles = [sorted(c) for c in strongly_connected(edges) if len(c) > 1]
        if not cycles:
            print(f"{crate_dir}: no cycles ({len(edges)} files)")
            continue
        found = True
        print(f"{crate_dir}: {len(cycles)} cycle(s) ({len(edges)} files)")
        for comp in sorted(cycles):
            members = set(comp)
            print("  cycle: " + ", ".join(str(f.relative_to(src)) for f in comp))
            for f in comp:
                inside = sorted(str(t.relative_to(src)) for t in edges[f] if t in members)
                print(f"    {f.relative_to(src)} -> {', '.join(inside)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

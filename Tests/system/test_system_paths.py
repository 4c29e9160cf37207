"""Every system file the project reads belongs to a Debian package that scripts/deps.sh installs (issue 11).

A fresh Debian machine has only the essential and required packages (plus libc6-dev, which the Swift toolchain
needs). Anything else the code, the tests or the training read from the system must be installed by README's two
commands, or the first user on a new machine hits "no such file". This test collects
  - absolute system paths named in the tracked files of Sources/, training/, Tests/, scripts/, fuzz/, .ci/,
  - the C headers the C targets include and the libraries their module maps link,
maps each to its Debian package with `dpkg -S`, and fails for a package that scripts/deps.sh does not list.
Run after the scripts' installs (scripts/test.sh does), so that every listed package is present.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["Sources", "training", "Tests", "scripts", "fuzz", ".ci", "Package.swift"]
THIS_FILE = Path(__file__).resolve()
# Absolute paths into the parts of the file system that packages own; /tmp, /dev, /proc, home folders are not.
PATH_RE = re.compile(r"(?<![\w./~$-])(/(?:usr|etc|opt|var|lib|lib32|lib64|libx32|bin|sbin|srv)/[\w.+@-][\w.+@/-]*)")
INCLUDE_RE = re.compile(r"^\s*#\s*include\s*<([^>]+)>", re.M)
LINK_RE = re.compile(r'^\s*link\s+"([^"]+)"', re.M)
# Headers the C compiler ships itself (clang's resource directory inside the Swift toolchain).
COMPILER_HEADERS = {"stddef.h", "stdarg.h", "stdbool.h", "float.h", "stdalign.h", "stdnoreturn.h",
                    "immintrin.h",  # x86 intrinsics (CSpikeKernels, included on x86 only)
                    "stdatomic.h"}  # C11 atomics (CSpikeKernels' thread pool)
# Present wherever Swift runs on Debian: the toolchain's installation guide requires it.
PRESUMED = {"libc6-dev"}
MULTIARCH = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() or "x86_64-linux-gnu"


def deps_packages() -> set[str]:
    """The Debian packages scripts/deps.sh installs (its SPIKECLIP_DEBIAN_* arrays)."""
    out = subprocess.run(
        ["bash", "-c", 'source scripts/deps.sh && printf "%s\\n" "${SPIKECLIP_DEBIAN_BUILD[@]}" '
                       '"${SPIKECLIP_DEBIAN_RUN[@]}" "${SPIKECLIP_DEBIAN_TEST[@]}"'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


@functools.lru_cache(maxsize=None)
def always_present() -> frozenset[str]:
    """Essential and required packages: on every Debian system (debootstrap's minimal base)."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\\t${Essential}\\t${Priority}\\n"],
                         capture_output=True, text=True, check=True).stdout
    present = set()
    for line in out.splitlines():
        name, essential, priority = (line.split("\t") + ["", ""])[:3]
        if essential == "yes" or priority == "required":
            present.add(name)
    return frozenset(present | PRESUMED)


def with_dependencies(packages: set[str]) -> set[str]:
    """`packages` and every installed package they depend on (Depends, Pre-Depends, recursively): what installing
    them brings."""
    depends = installed_dependencies()
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += [d for d in depends.get(p, ()) if d in depends]
    return seen


@functools.lru_cache(maxsize=None)
def installed_dependencies() -> dict[str, set[str]]:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Depends}, ${Pre-Depends}\n"],
                         capture_output=True, text=True, check=True).stdout
    depends = {}
    for line in out.splitlines():
        name, _, deps = line.partition("\t")
        alternatives = re.split(r"[,|]", deps)
        depends[name] = {re.sub(r"\(.*?\)|:\S+", "", d).strip() for d in alternatives if d.strip()}
    return depends


@functools.lru_cache(maxsize=None)
def owners(path: str) -> frozenset[str]:
    """Packages that own `path` (a file or a directory); tries the resolved path for alternatives' symlinks."""
    for candidate in dict.fromkeys([path, os.path.realpath(path)]):
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        found = set()
        for line in r.stdout.splitlines():
            names, _, owned = line.partition(": ")
            if owned.strip() == candidate and not names.startswith("diversion by"):
                found |= {n.strip().split(":")[0] for n in names.split(",")}
        if found:
            return frozenset(found)
    return frozenset()


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--", *SCANNED], cwd=ROOT, capture_output=True, check=True).stdout
    files = [ROOT / p for p in out.decode().split("\0") if p]
    return [f for f in files if f.is_file() and f.resolve() != THIS_FILE and "/Fixtures/" not in f.as_posix()]


@functools.lru_cache(maxsize=None)
def system_references() -> tuple[tuple[str, str], ...]:
    """(system path, where it is named) for every path, C header and linked library the project uses."""
    refs: list[tuple[str, str]] = []
    for f in tracked_files():
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, checkpoints) name no paths
        rel = f.relative_to(ROOT).as_posix()
        for m in PATH_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            refs.append((m.group(1).rstrip("/.,:;)"), f"{rel}:{line}"))
        if rel.startswith("Sources/C"):
            for m in INCLUDE_RE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                refs.append(("<include>" + m.group(1), f"{rel}:{line}"))
            for m in LINK_RE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                refs.append(("<link>" + m.group(1), f"{rel}:{line}"))
    return tuple(refs)


def resolve(ref: str) -> str | None:
    """The file a reference reads: a path as is, a header under /usr/include, a library's development symlink."""
    searched = {"<include>": (("/usr/include/" + MULTIARCH, "/usr/include"), "{}"),
                "<link>": (("/usr/lib/" + MULTIARCH, "/usr/lib"), "lib{}.so")}
    for tag, (bases, pattern) in searched.items():
        if ref.startswith(tag):
            names = [f"{base}/{pattern.format(ref[len(tag):])}" for base in bases]
            return next((n for n in names if os.path.exists(n)), None)
    return ref if os.path.exists(ref) else None


def problems(installed_by_scripts: set[str]) -> list[str]:
    """One line per system reference that a fresh machine running the scripts would not have."""
    allowed = with_dependencies(installed_by_scripts) | always_present()
    out = []
    for ref, where in system_references():
        if ref.startswith("<include>") and ref[len("<include>"):] in COMPILER_HEADERS:
            continue
        path = resolve(ref)
        shown = ref.replace("<include>", "header ").replace("<link>", "library -l")
        if path is None:
            out.append(f"{shown} (named in {where}) is not on this machine: scripts/deps.sh must install its package")
            continue
        pkgs = owners(path)
        if not pkgs:
            out.append(f"{path} (named in {where}) belongs to no Debian package: ship it or create it from the scripts")
        elif not pkgs & allowed:
            out.append(f"{path} (named in {where}) belongs to {', '.join(sorted(pkgs))}, "
                       f"which scripts/deps.sh does not install")
    return out


def test_every_system_file_comes_from_a_package_the_scripts_install():
    found = problems(deps_packages())
    assert not found, "\n".join(found)


def test_the_scan_finds_the_data_packages():
    """The scan itself must see what the code reads, or the test above would pass vacuously."""
    refs = {ref for ref, _ in system_references()}
    assert any(r.startswith("/usr/share/datasets/fashion-mnist") for r in refs)
    assert any(r.startswith("/usr/share/wordnet") for r in refs)
    assert "<include>cblas.h" in refs and "<link>openblas" in refs


def test_removing_any_needed_package_from_the_list_fails():
    """Leaving out of scripts/deps.sh any package whose files the code reads (and that no other listed package
    brings as a dependency) is caught."""
    deps = deps_packages()
    read = {"dataset-fashion-mnist", "wordnet-base", "libopenblas-dev", "libturbojpeg0-dev", "libpng-dev", "libncurses-dev"}
    assert read <= deps
    for pkg in sorted(read):
        found = problems(deps - {pkg})
        assert found, f"leaving {pkg} out of scripts/deps.sh went unnoticed"

#!/usr/bin/env python3
# Copyright (c) 2026, opskit maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Collection artifacts for the execution environment, made from the collections this checkout's venv has.

No Galaxy server is reachable here, and the `ansible` package (about 100 collections, 36,000 files, 470 MB)
is far more than a controller of opskit.webstack needs. This packs the collections named on the command
line (and what their MANIFEST.json says they depend on), at the versions of the venv's `ansible`
package (requirements.lock), back into artifacts that `ansible-galaxy collection install` accepts:
MANIFEST.json and FILES.json at the root, FILES.json listing exactly the files packed (the `ansible`
package leaves out a few of a collection's files, such as its CI definitions, which FILES.json still
names). The tarballs are reproducible (sorted, owner root, mtime 0): the same collections give the same
bytes, so the image build's layer cache and images/ee/build.sh's inputs hash see no change.

    pack_collections.py DEST NAMESPACE.NAME ...     writes DEST/<namespace>-<name>.tar.gz, prints one line each
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import tarfile
from pathlib import Path

import ansible_collections


def collection_dir(fqcn: str) -> Path:
    namespace, name = fqcn.split(".")
    for root in ansible_collections.__path__:
        path = Path(root) / namespace / name
        if (path / "MANIFEST.json").is_file():
            return path
    raise SystemExit(f"pack_collections.py: {fqcn} is not in this Python's ansible_collections (pip install ansible)")


def with_dependencies(names: list[str]) -> list[str]:
    seen: list[str] = []
    todo = list(names)
    while todo:
        fqcn = todo.pop(0)
        if fqcn in seen:
            continue
        seen.append(fqcn)
        manifest = json.loads((collection_dir(fqcn) / "MANIFEST.json").read_text())
        todo += sorted(manifest["collection_info"].get("dependencies") or {})
    return seen


def pack(fqcn: str, dest: Path) -> Path:
    source = collection_dir(fqcn)
    files = json.loads((source / "FILES.json").read_text())
    kept = [entry for entry in files["files"] if entry["name"] == "." or (source / entry["name"]).exists()]
    files = {**files, "files": kept}
    out = dest / f"{fqcn.replace('.', '-')}.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:

        def add(name: str, data: bytes | None, mode: int, is_dir: bool = False) -> None:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            if is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))

        add("MANIFEST.json", (source / "MANIFEST.json").read_bytes(), 0o644)
        add("FILES.json", json.dumps(files, indent=4).encode(), 0o644)
        for entry in sorted(kept, key=lambda e: e["name"]):
            if entry["name"] == ".":
                continue
            path = source / entry["name"]
            if entry["ftype"] == "dir":
                add(entry["name"], None, 0o755, is_dir=True)
            else:
                add(entry["name"], path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644)
    with out.open("wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    dest = Path(argv[0])
    dest.mkdir(parents=True, exist_ok=True)
    for fqcn in with_dependencies(argv[1:]):
        out = pack(fqcn, dest)
        version = json.loads((collection_dir(fqcn) / "MANIFEST.json").read_text())["collection_info"]["version"]
        print(f"{fqcn} {version} {out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

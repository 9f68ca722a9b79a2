#!/usr/bin/env python3
"""Build dist/skctl.pyz: skctl plus every runtime dependency, compiled ones included.

shiv does the zipapp work (bootstrap, extraction cache, entry point). Letting it
re-resolve and download every dependency takes minutes, so instead we stage what is
already installed: walk the runtime dependency closure of the installed `skctl`
distribution through importlib.metadata, copy each distribution's files (from its
RECORD) into a staging site-packages, add skctl's own sources, and let shiv pack that.
The result runs on the same Python minor version and platform it was built with (the
compiled wheels inside are version-specific); the README says so.

shiv's zipapp is then nested, unchanged, as one member of a small outer zip whose
`__main__.py` is scripts/pyz_main.py: a warm start no longer reads shiv's ~4,000-entry
zip directory twice (docs/development.md, "Start-up").
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "skctl") -> list[metadata.Distribution]:
    """Installed distributions `root` needs at run time (no extras, environment markers honoured)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(f"build_zipapp: {name} is not installed; run `make pyz` (it installs the project first)")
        seen[name] = dist
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            if marker and not _marker_applies(marker):
                continue
            match = _NAME.match(spec.strip())
            if match:
                todo.append(match.group(0))
    return [d for n, d in seen.items() if n != _canonical(root)]


def _marker_applies(marker: str) -> bool:
    from packaging.markers import Marker

    try:
        return Marker(marker.strip()).evaluate({"extra": ""})
    except Exception:  # noqa: BLE001 - an unparsable marker: include rather than break the build
        return True


# botocore ships a model for every AWS service (~1,900 files); s3fs talks only to S3, and
# the credential chain may call STS and SSO. Every file in the zip costs start-up time
# (shiv reads the zip's directory on each run), so what can never be used stays out.
_BOTOCORE_SERVICES = {"s3", "sts", "sso", "sso-oidc"}
_INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "WHEEL", "top_level.txt", "zip-safe"}
# Build inputs and type-checker markers: never read by a running program.
_BUILD_ONLY_SUFFIXES = (".pyi", ".proto", ".pyx", ".pxd", ".pxi", ".h", ".c", ".cc", "py.typed")
# The kubernetes distribution also carries an asyncio client (~960 files); skctl uses the
# synchronous client only.
_UNUSED_SUBPACKAGES = {("kubernetes", "aio")}


def wanted(parts: tuple[str, ...]) -> bool:
    """False for files that are never used at run time."""
    if not parts or parts[0] == ".." or parts[0].endswith(".data") or "__pycache__" in parts:
        return False
    if parts[-1].endswith(_BUILD_ONLY_SUFFIXES) or parts[0].endswith(".dist-info") and parts[-1] in _INSTALL_RECORDS:
        return False
    if parts[:2] in _UNUSED_SUBPACKAGES:
        return False
    if parts[:2] == ("botocore", "data") and len(parts) > 3 and parts[2] not in _BOTOCORE_SERVICES:
        return False
    return True


def stage(target: Path) -> int:
    count = 0
    for dist in runtime_closure():
        for file in dist.files or []:
            if not wanted(file.parts):
                continue
            src = Path(dist.locate_file(file))
            if not src.is_file():
                continue
            dest = target / file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            count += 1
    shutil.copytree(ROOT / "skctl", target / "skctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return count


PAYLOAD = "payload.pyz"
ENTRY_POINT = "skctl.cli.entry:main"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible, like shiv --reproducible


def _launcher(env: dict, has_pth: bool) -> bytes:
    """scripts/pyz_main.py with this build's constants (from shiv's environment.json) filled in."""
    source = (ROOT / "scripts" / "pyz_main.py").read_text()
    built_for = f"{sys.version_info[0]}.{sys.version_info[1]} {sys.platform} {platform.machine()}"
    constants = {
        'BUILD_ID = ""': env["build_id"], 'ENTRY_POINT = ""': env["entry_point"], "HAS_PTH = False": has_pth,
        'BUILT_FOR = ""': built_for,
    }
    for line, value in constants.items():
        assert line in source, f"scripts/pyz_main.py lost its `{line}` line"
        source = source.replace(line, f"{line.split(' = ')[0]} = {value!r}", 1)
    assert f'PAYLOAD = "{PAYLOAD}"' in source
    return source.encode()


def nest(shiv_pyz: Path, output: Path) -> None:
    """The outer zipapp: the launcher, shiv's bootstrap and environment, shiv's zipapp as PAYLOAD."""
    with zipfile.ZipFile(shiv_pyz) as inner:
        env = json.loads(inner.read("environment.json"))
        has_pth = any(n.startswith("site-packages/") and n.count("/") == 1 and n.endswith(".pth") for n in inner.namelist())
        members = {n: inner.read(n) for n in inner.namelist() if n == "environment.json" or n.startswith("_bootstrap/")}
    members["__main__.py"] = _launcher(env, has_pth)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(fh, "w") as outer:
            for name in sorted(members):
                # stored, like the payload (shiv compressed its members): reading a deflated
                # __main__.py would cost every start the import of zlib
                outer.writestr(zipfile.ZipInfo(name, _FIXED_TIME), members[name])
            info = zipfile.ZipInfo(PAYLOAD, _FIXED_TIME)
            info.external_attr = 0o644 << 16
            with outer.open(info, "w", force_zip64=True) as dest, open(shiv_pyz, "rb") as src:
                shutil.copyfileobj(src, dest, 1 << 20)
    tmp.chmod(0o755)
    tmp.replace(output)


def build(site_packages: Path, output: Path, entry_point: str = ENTRY_POINT) -> None:
    """shiv packs `site_packages` with `entry_point`; its zipapp is then nested into `output`."""
    with tempfile.TemporaryDirectory(prefix="skctl-shiv-") as tmp:
        shiv_pyz = Path(tmp) / "shiv.pyz"
        cmd = [
            sys.executable, "-m", "shiv",
            "--site-packages", str(site_packages),
            "--entry-point", entry_point,
            "--output-file", str(shiv_pyz),
            "--python", "/usr/bin/env python3",
            "--compressed",
            "--reproducible",
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        nest(shiv_pyz, output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "dist" / "skctl.pyz"))
    args = parser.parse_args()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="skctl-pyz-") as tmp:
        site = Path(tmp) / "site-packages"
        site.mkdir()
        files = stage(site)
        build(site, output)
    size_mb = output.stat().st_size / 1e6
    print(f"wrote {output} ({size_mb:.1f} MB, {files} dependency files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`__main__.py` of dist/skctl.pyz: find shiv's unpacked site-packages by build id, or unpack it once.

scripts/build_zipapp.py lets shiv build the zipapp, then nests shiv's output whole as one
member (PAYLOAD) of a small outer zip holding this file, shiv's `_bootstrap` package and
its `environment.json`. Python reads the zip directory of the file it runs, and shiv's
own bootstrap reads it a second time with `zipfile`: with ~4,000 entries at the top level
that was most of a warm start. Here the outer directory has a handful of entries and the
warm path is a few `stat` calls and a `sys.path` insert; it imports nothing beyond `os`
and `sys`, which running a zip has loaded already (runpy).

The cache directory is shiv's: `$SHIV_ROOT` or `~/.shiv`, then `<pyz name>_<build id>/
site-packages`. The first run (or a new build id) unpacks it with shiv's own
`extract_site_packages`, which takes a lock file and renames a finished temporary
directory into place, so concurrent first runs are safe and a half-written directory
is never used. When `~/.shiv` cannot be written (read-only HOME) and SHIV_ROOT is not
set, a per-user directory under $TMPDIR (or /tmp) is used instead. With any of shiv's
run-time overrides set (SHIV_INTERPRETER, SHIV_ENTRY_POINT, ...), shiv's own bootstrap
runs after the unpacking, so they behave as documented by shiv.
"""

import os
import sys

# Written by scripts/build_zipapp.py.
BUILD_ID = ""
ENTRY_POINT = ""
HAS_PTH = False  # site-packages has .pth files: add it with site.addsitedir
BUILT_FOR = ""  # "3.11 linux x86_64": the compiled dependencies inside load only there
PAYLOAD = "payload.pyz"

_OVERRIDES = (
    "SHIV_INTERPRETER",
    "SHIV_ENTRY_POINT",
    "SHIV_MODULE",
    "SHIV_CONSOLE_SCRIPT",
    "SHIV_FORCE_EXTRACT",
    "SHIV_PREPEND_PYTHONPATH",
    "SHIV_EXTEND_PYTHONPATH",
)


def _roots():
    """Where the unpacked copy may live: SHIV_ROOT, or ~/.shiv then the private fallback."""
    root = os.environ.get("SHIV_ROOT")
    if root:
        return [os.path.expanduser(root)]
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return [os.path.expanduser("~/.shiv"), os.path.join(tmp, f"skctl-shiv-{os.getuid()}")]


def _site_dir(root):
    """shiv's name for it: `<root>/<pyz file name>_<build id>/site-packages`."""
    name = os.path.basename(os.path.realpath(sys.argv[0]))
    return os.path.join(root, f"{name}_{BUILD_ID}", "site-packages")


def _fail(message):
    sys.stderr.write(f"skctl: error: {message}\n")
    raise SystemExit(1)


def _private(root, create=False):
    """The /tmp fallback is trusted only if this user owns it and nobody else can write to it."""
    try:
        if create:
            os.makedirs(root, mode=0o700, exist_ok=True)
        st = os.stat(root)
    except OSError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _unpack(roots, force):
    """Unpack PAYLOAD's site-packages with shiv's extractor into the first writable root; its site dir."""
    import shutil
    import tempfile
    import zipfile
    from pathlib import Path

    from _bootstrap import extract_site_packages
    from _bootstrap.environment import Environment

    archive = sys.argv[0]
    with zipfile.ZipFile(archive) as outer:
        env = Environment.from_json(outer.read("environment.json").decode())
        errors = []
        for i, root in enumerate(roots):
            if i and not _private(root, create=True):
                errors.append(f"{root}: not a private directory")
                continue
            site = _site_dir(root)
            try:
                os.makedirs(root, exist_ok=True)
                # shiv's extractor needs a seekable zip; a member of a zip is not one (cheaply),
                # so the payload is copied out next to where it is unpacked, then removed.
                with tempfile.TemporaryFile(dir=root) as copy:
                    with outer.open(PAYLOAD) as src:
                        shutil.copyfileobj(src, copy, 1 << 20)
                    copy.seek(0)
                    with zipfile.ZipFile(copy) as payload:
                        extract_site_packages(
                            payload, Path(site).parent, env.compile_pyc, env.compile_workers, force
                        )
            except OSError as exc:
                errors.append(f"{root}: {exc.strerror or exc}")
                continue
            return site
    _fail(f"cannot unpack {archive} ({'; '.join(errors)}); set SHIV_ROOT to a writable directory")


def _interpreter():
    return f"{sys.version_info[0]}.{sys.version_info[1]} {sys.platform} {os.uname().machine}"


def main():
    if BUILT_FOR and _interpreter() != BUILT_FOR:
        # Otherwise most commands would fail later, each on some compiled module "missing".
        _fail(
            f"{sys.argv[0]} was built for Python {BUILT_FOR} and this is Python {_interpreter()}: "
            f"run it with that Python (an image with it, for the driver), or build it with this one (make pyz)"
        )
    roots = _roots()
    force = os.environ.get("SHIV_FORCE_EXTRACT", "").lower() in ("1", "t", "true", "yes")  # shiv's reading
    site = None
    if not force:
        found = (_site_dir(r) for i, r in enumerate(roots) if not i or _private(r))
        site = next((s for s in found if os.path.isdir(s)), None)
    if site is None:
        site = _unpack(roots, force)
    if any(name in os.environ for name in _OVERRIDES):
        os.environ.pop("SHIV_FORCE_EXTRACT", None)  # done above; shiv's bootstrap would unpack the outer zip
        os.environ["SHIV_ROOT"] = os.path.dirname(os.path.dirname(site))
        import _bootstrap

        _bootstrap.bootstrap()
        return
    # Like shiv: before the interpreter's own site-packages, after the standard library.
    sites = (i for i, p in enumerate(sys.path) if p.endswith(("site-packages", "dist-packages")))
    index = next(sites, len(sys.path))
    if HAS_PTH:
        import site as site_module

        before = list(sys.path)
        site_module.addsitedir(site)
        added = [p for p in sys.path if p not in before]
        sys.path[:] = before[:index] + added + before[index:]
    else:
        sys.path.insert(index, site)
    try:
        code = _call_entry()
    except ImportError as exc:
        # Files went missing from the copy after it was unpacked (a temporary-file cleaner,
        # a user tidying up): shiv only checks that the directory exists. Unpack it again and
        # retry once. An ImportError gets here only before the command started: skctl.cli.main
        # turns every later one into an error line.
        code = _repair(site, exc)
    sys.exit(code)


def _call_entry():
    module, _, attr = ENTRY_POINT.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)()


def _repair(site, exc):
    """Unpack `site` again (forced), forget what was imported from it, and call the entry point."""
    import importlib

    prefix = site + os.sep
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(prefix):
            del sys.modules[name]
    _unpack([os.path.dirname(os.path.dirname(site))], True)
    importlib.invalidate_caches()
    try:
        return _call_entry()
    except ImportError as again:
        _fail(f"{site} is incomplete and unpacking it again did not help ({again}; before: {exc})")


main()

"""A model's code/requirements.txt, installed for that model alone.

In multi-model mode models come and go while the server runs, and two may need different versions
of a package: nothing is installed into the server's own environment. Each distinct requirements
file gets a private overlay virtualenv (the same layering `byoc package` verifies archives in:
container.packaging.verify.overlay_virtualenv), which sees the server's packages and receives only
what is missing or pinned otherwise. The overlay's site-packages goes first on the model process's
sys.path, so its versions win there and nowhere else.

Overlays are kept, keyed by the file's digest, so a model unloaded and loaded again (the usual life
of a model behind a multi-model endpoint) does not install again. A package the runtime had
imported before the model process was forked (numpy, scipy, scikit-learn, ...) cannot be replaced in
it: such a pin is logged.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import site
import sys
from pathlib import Path

from container.contract import user_code
from container.packaging.verify import overlay_virtualenv

log = logging.getLogger(__name__)
COMPLETE = ".byoc-installed"


def install_for_model(code_dir: Path, overlays: Path) -> Path | None:
    """Install the model's requirements into their overlay (once) and put it first on sys.path.

    Returns the overlay's site-packages, or None when the model has no requirements.txt. Runs in
    the model's own process; StartupError (from pip) when they cannot be installed.
    """
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return None
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:20]
    overlay = overlays / digest
    overlays.mkdir(parents=True, exist_ok=True)
    # Two models with the same requirements may load at once: one installs, the other waits.
    with open(overlays / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (overlay / COMPLETE).exists():
            log.info("installing %s into a private overlay %s", requirements, overlay)
            python = overlay_virtualenv(overlay)
            user_code.install_requirements(code_dir, python=python)
            (overlay / COMPLETE).write_text(requirements.read_text())
        else:
            log.info("%s: already installed in overlay %s", requirements, overlay)
    site_packages = _site_packages(overlay)
    site.addsitedir(str(site_packages))
    sys.path.remove(str(site_packages))
    sys.path.insert(0, str(site_packages))
    _warn_about_shadowed(site_packages)
    return site_packages


def _site_packages(overlay: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return overlay / "lib" / version / "site-packages"


def _warn_about_shadowed(site_packages: Path) -> None:
    """Name the overlay's packages this process imported before it existed: the old ones stay in use."""
    for entry in site_packages.iterdir():
        name = entry.name.removesuffix(".py")
        if entry.suffix in (".dist-info", ".pth") or name.startswith(("_", ".")):
            continue
        if name in sys.modules:
            log.warning(
                "the model's requirements install %s, which the runtime had already imported: "
                "this model runs with the runtime's version",
                name,
            )

"""`byoc package`, the proving half: serve the archive with the real runtime before calling it done.

Verifying extracts the archive exactly as the toolkit does everywhere (container.archives.extraction),
then starts the real server on it in a separate process (in a private virtualenv layered over this
one when code/requirements.txt must be installed) and, given a sample, asks it for a prediction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from container.archives import extraction as archive
from container.serving.server_process import ServerNotReady, ServerProcess

VERIFY_TIMEOUT_SECONDS = 600.0


@dataclass
class Verification:
    ok: bool
    cause: str = ""
    loaded: list[str] = field(default_factory=list)
    status: int | None = None
    answer: str = ""


def verify(
    archive_path: Path,
    handler: str,
    program: str | None,
    sample: Path | None = None,
    content_type: str | None = None,
    accept: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
    model_dir_shown_as: str = "the archive's root",
) -> Verification:
    """Extract the archive as the container would and serve it with the real runtime.

    BYOC_HANDLER is left unset, as it is under SageMaker: the server must choose `handler` itself,
    from the archive's manifest. Messages name the model directory as `model_dir_shown_as` (the
    user's own path), not the temporary directory it was extracted into.
    """
    with tempfile.TemporaryDirectory(prefix="byoc-verify-") as scratch:
        model_dir = Path(scratch) / "model"
        try:
            archive.safe_extract(archive_path, model_dir)
        except archive.ArchiveError as exc:  # UnsafeArchive too
            return Verification(False, f"the archive cannot be extracted: {exc}")
        python = sys.executable
        if (model_dir / "code" / "requirements.txt").is_file():
            progress("creating a private virtualenv for code/requirements.txt")
            python = overlay_virtualenv(Path(scratch) / "venv")
        # Blank is unset (container.config), and overrides a BYOC_HANDLER in the caller's environment.
        env = {"BYOC_HANDLER": "", "SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}
        if program:
            env["SAGEMAKER_PROGRAM"] = program
        server = ServerProcess(model_dir, env=env, workers=1, python=python)
        reported: set[int] = set()

        def waiting(seconds: float, _last_ping: str) -> None:
            if int(seconds) not in reported:  # one line a second, not one a poll
                reported.add(int(seconds))
                progress(f"waiting for /ping ({seconds:.0f} s)")

        with server:
            try:
                server.wait_until_ready(VERIFY_TIMEOUT_SECONDS, on_wait=waiting)
            except ServerNotReady:
                cause = failure_cause(server).replace(str(model_dir), model_dir_shown_as)
                return Verification(False, cause, _loaded_lines(server.log_text()))
            result = Verification(True, loaded=_loaded_lines(server.log_text()))
            if f"handler: {handler} (" not in server.log_text():
                result.ok = False
                result.cause = f"the server did not choose the {handler} handler the manifest names"
                return result
            if sample is not None:
                result.status, result.answer = post_sample(server.url, sample, content_type, accept)
                if result.status != 200:
                    result.ok = False
                    result.cause = f"the sample got HTTP {result.status}: {result.answer}"
            return result


def overlay_virtualenv(path: Path) -> str:
    """A virtualenv that sees this environment's packages and installs only what is missing."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    site_packages = Path(
        _run_python(str(python), "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    parents = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    # addsitedir (not a plain path line) so the parent's own .pth files, editable installs among
    # them, are processed too; the overlay's site-packages stays first, so its installs win.
    lines = [f"import site; site.addsitedir({parent!r})" for parent in parents]
    (site_packages / "_byoc_parent_environment.pth").write_text("\n".join(lines) + "\n")
    return str(python)


def failure_cause(server: ServerProcess) -> str:
    """The one line that says why the server did not come up: start-up error or load failure."""
    status, body = server.ping()
    if status == 503 and body:
        try:
            return str(json.loads(body).get("message", body))
        except ValueError:
            return body
    log = server.log_text()
    for line in log.splitlines():
        if "cannot start:" in line:
            return line.split("cannot start:", 1)[1].strip() + _continuation(log, line)
    return f"the server did not start:\n{server.log_tail(15)}"


def post_sample(url: str, sample: Path, content_type: str | None, accept: str | None) -> tuple[int, str]:
    headers = {"Content-Type": content_type or "application/json"}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(f"{url}/invocations", data=sample.read_bytes(), headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        with opener.open(request, timeout=VERIFY_TIMEOUT_SECONDS) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _loaded_lines(log: str) -> list[str]:
    keys = (
        "handler: ",
        "handler functions:",
        "model loaded in",
        "version mismatch:",
        "imported user module",
        "installed ",
    )
    return [line.split(": ", 1)[-1] for line in log.splitlines() if any(key in line for key in keys)]


def _continuation(log: str, line: str) -> str:
    # A pip failure's message spans several lines after the one that names it.
    following = log.split(line, 1)[1].splitlines()[1:]
    kept = [text for text in following if text and not text.startswith(("[", "20"))][:15]
    return ("\n" + "\n".join(kept)) if kept else ""


def _run_python(python: str, code: str) -> str:
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout

"""The runtime's `byoc` commands (the image carries them; byoc.py adds the deploy ones):

    byoc serve [--model-data ARCHIVE_OR_DIR] [--port N] [--workers N] [--handler NAME] [--program FILE]
    byoc package MODEL_PATH -o OUT.tar.gz [--code FILE_OR_DIR] [--requirements FILE] [--include PATH ...]
                 [--handler NAME] [--sample FILE --content-type TYPE [--accept TYPE]]
                 [--set-version PKG=VERSION ...]
    byoc inspect ARCHIVE [--json]
    byoc extract ARCHIVE DEST

`serve` options are shortcuts for the environment variables the image reads, so a model served
natively behaves as it will in the container.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from container.archives import extraction as archive
from container.archives import manifest
from container.config import ConfigError, load_archive_limits, load_config
from container.packaging import build, inspect, verify
from container.serving import server


def register(commands: argparse._SubParsersAction) -> None:
    """Add the runtime's commands (serve, package, inspect, extract) to `byoc`'s parser."""
    serve = commands.add_parser(
        "serve",
        help="serve a model natively, exactly as the image would",
        description="Serve a model natively with the same runtime and settings as the image.",
    )
    serve.add_argument(
        "--model-data",
        "--model-dir",
        dest="model_data",
        type=Path,
        help="a model directory, or a model.tar.gz to extract safely into a private temp dir",
    )
    serve.add_argument("--port", type=int, help="port to listen on (SAGEMAKER_BIND_TO_PORT)")
    serve.add_argument("--host", help="address to bind (BYOC_BIND_HOST, default 0.0.0.0)")
    serve.add_argument("--workers", type=int, help="worker processes (SAGEMAKER_MODEL_SERVER_WORKERS)")
    serve.add_argument("--handler", help="handler module from handlers/ (BYOC_HANDLER)")
    serve.add_argument("--program", help="user module in code/ (SAGEMAKER_PROGRAM)")
    serve.set_defaults(run=run_serve)

    package = commands.add_parser(
        "package",
        help="build model.tar.gz and verify that it serves",
        description="Build a deterministic model.tar.gz with a manifest, then verify it by serving it "
        "with the real runtime in a separate process. Exit status 0 only when it was written and verified.",
    )
    package.add_argument("model_path", type=Path, help="the model file, or a directory of model files")
    package.add_argument("-o", "--output", type=Path, required=True, help="the archive to write")
    package.add_argument("--code", type=Path, help="inference script, or source directory, for code/")
    package.add_argument("--requirements", type=Path, help="requirements.txt for code/requirements.txt")
    package.add_argument("--include", type=Path, action="append", default=[], help="extra file or dir")
    package.add_argument(
        "--handler",
        help="handler to serve with (BYOC_HANDLER); by default the one whose model files MODEL_PATH holds",
    )
    package.add_argument("--sample", type=Path, help="a request body to predict on when verifying")
    package.add_argument("--content-type", help="the sample's Content-Type")
    package.add_argument("--accept", help="the Accept header for the sample")
    package.add_argument(
        "--set-version",
        action="append",
        default=[],
        metavar="PKG=VERSION",
        help="record this version in the manifest instead of the installed one (python=3.11.9 too)",
    )
    package.set_defaults(run=run_package)

    inspect = commands.add_parser(
        "inspect",
        help="list an archive's contents, manifest and warnings",
        description="Check and list a model archive without extracting it. Exit status 1 when it is "
        "unsafe or damaged, or does not match its manifest.",
    )
    inspect.add_argument("archive", type=Path)
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    _add_limit_options(inspect)
    inspect.set_defaults(run=run_inspect)

    extract = commands.add_parser(
        "extract",
        help="extract a model.tar.gz safely into an empty directory",
        description="Extract a model archive, refusing path escapes, links out, devices and bombs.",
    )
    extract.add_argument("archive", type=Path)
    extract.add_argument("destination", type=Path)
    _add_limit_options(extract)
    extract.set_defaults(run=run_extract)


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-bytes", type=int, help=f"size cap when unpacked ({archive.MAX_BYTES_ENV})")
    parser.add_argument("--max-members", type=int, help=f"member count cap ({archive.MAX_MEMBERS_ENV})")


def _limits(args: argparse.Namespace) -> archive.Limits:
    limits = load_archive_limits()
    return archive.Limits(
        max_bytes=args.max_bytes or limits.max_bytes,
        max_members=args.max_members or limits.max_members,
    )


# --- serve ------------------------------------------------------------------------------------

SERVE_OPTIONS = {
    "port": "SAGEMAKER_BIND_TO_PORT",
    "host": "BYOC_BIND_HOST",
    "workers": "SAGEMAKER_MODEL_SERVER_WORKERS",
    "handler": "BYOC_HANDLER",
    "program": "SAGEMAKER_PROGRAM",
}


def run_serve(args: argparse.Namespace) -> int:
    # The options are the variables the image reads, given to the same parser: a model served
    # natively is configured exactly as in the container. Nothing is written to os.environ.
    flags = {variable: getattr(args, option) for option, variable in SERVE_OPTIONS.items()}
    environ = {**os.environ, **{name: str(value) for name, value in flags.items() if value is not None}}
    scratch: Path | None = None
    if args.model_data is not None:
        if not args.model_data.exists():
            print(f"byoc serve: {args.model_data} does not exist", file=sys.stderr)
            return 1
        if args.model_data.is_file():
            scratch = Path(tempfile.mkdtemp(prefix="byoc-serve-"))
            try:
                archive.safe_extract(args.model_data, scratch / "model", load_archive_limits())
            except (archive.ArchiveError, ConfigError) as exc:
                shutil.rmtree(scratch, ignore_errors=True)
                print(f"byoc serve: {exc}", file=sys.stderr)
                return 1
            environ["BYOC_MODEL_DIR"] = str(scratch / "model")
        else:
            environ["BYOC_MODEL_DIR"] = str(args.model_data)
    remove_scratch = (lambda: shutil.rmtree(scratch, ignore_errors=True)) if scratch else None
    try:
        config = load_config(environ)
    except ConfigError as exc:
        if remove_scratch:
            remove_scratch()
        print(f"byoc serve: {exc}", file=sys.stderr)
        return 2
    # On this machine, unlike under SageMaker, nobody polls /ping: a model that cannot load is
    # said at once, with the reason, and the command exits 1.
    config = dataclasses.replace(config, exit_on_load_failure=True)
    return server.run(config, on_exit=remove_scratch)


# --- package / inspect / extract --------------------------------------------------------------


def run_package(args: argparse.Namespace) -> int:
    try:
        overrides = dict(_parse_version(item) for item in args.set_version)
    except ValueError as exc:
        print(f"byoc package: {exc}", file=sys.stderr)
        return 2
    if args.sample is not None and not args.sample.is_file():
        print(f"byoc package: the sample {args.sample} does not exist", file=sys.stderr)
        return 2
    spec = build.PackageSpec(
        model_path=args.model_path,
        output=args.output,
        code=args.code,
        requirements=args.requirements,
        include=tuple(args.include),
        handler=args.handler,
        version_overrides=overrides,
    )
    try:
        files = build.collect_files(spec)
        handler = build.choose_handler(spec, files)
    except build.PackagingError as exc:
        print(f"byoc package: {exc}", file=sys.stderr)
        return 1
    manifest_data = build.build_manifest(spec, files, handler)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed into place only once verified: a failed build never
    # leaves an archive that looks ready to deploy.
    with tempfile.NamedTemporaryFile(
        dir=args.output.parent, prefix=".byoc-", suffix=".tar.gz", delete=False
    ) as tmp:
        staged = Path(tmp.name)
        build.write_archive(files, manifest.dumps(manifest_data), tmp)
    print(f"packed {len(files)} file{'' if len(files) == 1 else 's'}:")
    for name, source in sorted(files.items()):
        print(f"  {name:<40} <- {source}")
    versions = ", ".join(f"{k} {v}" for k, v in manifest_data["versions"].items())
    print(f"handler {handler.name}: {handler.reason}")
    print(f"manifest: {versions}; handler {handler.name}; program {_program(manifest_data)}")
    print("verifying: extracting and serving it with the real runtime ...")
    result = verify.verify(
        staged,
        handler.name,
        manifest_data["program"],
        args.sample,
        args.content_type,
        args.accept,
        progress=lambda message: print(f"  {message}", flush=True),
        model_dir_shown_as=str(spec.model_path) if spec.model_path.is_dir() else "the archive's root",
    )
    for line in result.loaded:
        print(f"  {line}")
    if result.status is not None:
        print(f"  sample {args.sample.name}: HTTP {result.status}\n  {result.answer.strip()}")
    if not result.ok:
        staged.unlink(missing_ok=True)
        print(f"byoc package: verification failed: {result.cause}", file=sys.stderr)
        return 1
    staged.chmod(0o666 & ~_umask())  # NamedTemporaryFile made it 0600; give it a normal file's mode
    staged.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes), verified")
    return 0


def _program(manifest_data: dict) -> str:
    return manifest_data.get("program") or "(none)"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _parse_version(item: str) -> tuple[str, str]:
    package, sep, version = item.partition("=")
    if not sep or not package.strip() or not version.strip():
        raise ValueError(f"--set-version {item!r}: expected PACKAGE=VERSION")
    return package.strip(), version.strip()


def run_inspect(args: argparse.Namespace) -> int:
    try:
        report = inspect.inspect_archive(args.archive, _limits(args))
    except (archive.ArchiveError, ConfigError) as exc:  # UnsafeArchive too
        if args.json:
            print(json.dumps({"ok": False, "unsafe": str(exc)}, indent=2))
        print(f"byoc inspect: {exc}", file=sys.stderr)
        return 1
    if args.json:
        document = {
            "ok": report.ok,
            "entries": [vars(entry) for entry in report.entries],
            "manifest": report.manifest,
            "warnings": report.warnings,
            "problems": report.problems,
        }
        print(json.dumps(document, indent=2))
        return 0 if report.ok else 1
    print(f"{args.archive}:")
    for entry in report.entries:
        detail = (
            f"-> {entry.target}" if entry.target else (f"{entry.size:>12,}" if entry.kind == "file" else "")
        )
        print(f"  {entry.kind:<8} {entry.name:<44} {detail}")
    if report.manifest is not None:
        versions = ", ".join(f"{k} {v}" for k, v in report.manifest.get("versions", {}).items())
        print(f"manifest: made by byoc-toolkit {report.manifest.get('toolkit')}; {versions}")
        print(f"          handler {report.manifest.get('handler')}; program {_program(report.manifest)}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems:
        print(f"problem: {problem}")
    return 0 if report.ok else 1


def run_extract(args: argparse.Namespace) -> int:
    try:
        entries = archive.safe_extract(args.archive, args.destination, _limits(args))
    except (archive.ArchiveError, ConfigError) as exc:  # UnsafeArchive too
        print(f"byoc extract: {exc}", file=sys.stderr)
        return 1
    files = sum(1 for e in entries if e.kind == "file")
    size = sum(e.size for e in entries)
    print(f"extracted {files} files ({size} bytes) into {args.destination}")
    return 0

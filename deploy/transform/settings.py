"""A transform job's settings: checked as CreateTransformJob checks them, then resolved. Pure.

The three batching values come, in this order of precedence (AWS, "Use Your Own Inference Code with
Batch Transform", https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html):
1. the request (here, the command's flags);
2. what the container answers on GET /execution-parameters, asked before the first /invocations;
3. the defaults: MaxPayloadInMB 6 and MaxConcurrentTransforms 1 (API reference), BatchStrategy
   MultiRecord (not documented; what the platform logs for a container without
   /execution-parameters, and what the SDK's local mode uses).

/execution-parameters answers BatchStrategy in the spelling of the environment variable
("MULTI_RECORD", as in AWS's own example, AWS's toolkits and this image) or of the API
("MultiRecord"): both are accepted. The SDK's local mode accepts only the second, and fails on what
AWS's containers answer.

The container's environment (same page): SAGEMAKER_BATCH is always "true"; SAGEMAKER_MAX_PAYLOAD_IN_MB,
SAGEMAKER_BATCH_STRATEGY and SAGEMAKER_MAX_CONCURRENT_TRANSFORMS only when the request set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy.transform import assembly, records
from deploy.transform.batches import STRATEGIES
from deploy.transform.dataprocessing import CSV, JSONLINES, DataProcessing, essence

DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_MAX_CONCURRENT = 1
DEFAULT_STRATEGY = "MultiRecord"
MAX_PAYLOAD_MB = 100  # and MaxConcurrentTransforms * MaxPayloadInMB <= 100
MAX_INSTANCES = 100
MAX_TYPE_CHARS = 256
ENV_STRATEGY = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}


class SettingsError(ValueError):
    """The settings would be refused by CreateTransformJob (or make no sense here); every problem listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TransformSettings:
    """What a CreateTransformJob request (or `byoc local transform`) sets; None = not set."""

    content_type: str | None = None
    accept: str | None = None
    split_type: str = "None"
    batch_strategy: str | None = None
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: str = "None"
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"
    instance_count: int = 1

    def check(self) -> DataProcessing:
        """Every problem at once (SettingsError), or the parsed DataProcessing."""
        problems: list[str] = []
        if self.split_type not in records.SPLIT_TYPES:
            problems.append(
                f"SplitType {self.split_type!r}: expected one of {', '.join(records.SPLIT_TYPES)}"
            )
        if self.batch_strategy is not None and self.batch_strategy not in STRATEGIES:
            problems.append(f"BatchStrategy {self.batch_strategy!r}: expected MultiRecord or SingleRecord")
        if self.assemble_with not in assembly.ASSEMBLE_WITH:
            problems.append(f"AssembleWith {self.assemble_with!r}: expected None or Line")
        if self.max_payload_mb is not None and not 0 <= self.max_payload_mb <= MAX_PAYLOAD_MB:
            problems.append(
                f"MaxPayloadInMB {self.max_payload_mb}: expected 0 (stream, no limit) to {MAX_PAYLOAD_MB}"
            )
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append(f"MaxConcurrentTransforms {self.max_concurrent}: expected at least 1")
        if (
            self.max_concurrent is not None
            and self.max_payload_mb is not None
            and self.max_concurrent * self.max_payload_mb > MAX_PAYLOAD_MB
        ):
            product = self.max_concurrent * self.max_payload_mb
            problems.append(
                f"MaxConcurrentTransforms * MaxPayloadInMB is {product} MB; "
                f"SageMaker allows at most {MAX_PAYLOAD_MB}"
            )
        if not 1 <= self.instance_count <= MAX_INSTANCES:
            problems.append(f"InstanceCount {self.instance_count}: expected 1 to {MAX_INSTANCES}")
        for name, value in (("ContentType", self.content_type), ("Accept", self.accept)):
            if value is not None and len(value) > MAX_TYPE_CHARS:
                problems.append(f"{name} is {len(value)} characters; the limit is {MAX_TYPE_CHARS}")
        processing = None
        try:
            processing = DataProcessing.create(
                self.input_filter, self.join_source, self.output_filter, self.content_type, self.accept
            )
        except ValueError as exc:
            problems.append(str(exc))
        if processing is not None and processing.active:
            problems.extend(self._line_rules())
        if problems:
            raise SettingsError(problems)
        assert processing is not None
        return processing

    def _line_rules(self) -> list[str]:
        # AWS: text/csv in and out "must" use SplitType and AssembleWith Line. For JSON Lines AWS says
        # "can"; here its records are lines too, so filtering them needs SplitType=Line.
        problems = []
        if essence(self.content_type) in (CSV, JSONLINES) and self.split_type != "Line":
            problems.append(
                f"DataProcessing with ContentType {essence(self.content_type)} needs SplitType=Line "
                "(one record per line)"
            )
        if essence(self.content_type) == CSV and essence(self.accept) == CSV and self.assemble_with != "Line":
            problems.append("DataProcessing with text/csv in and out needs AssembleWith=Line")
        return problems

    # --- the container's side -------------------------------------------------------------------

    def container_environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment SageMaker gives the container for this job (after the job's own)."""
        env = dict(extra or {})
        env["SAGEMAKER_BATCH"] = "true"
        if self.max_payload_mb is not None:
            env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(self.max_payload_mb)
        if self.batch_strategy is not None:
            env["SAGEMAKER_BATCH_STRATEGY"] = ENV_STRATEGY[self.batch_strategy]
        if self.max_concurrent is not None:
            env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(self.max_concurrent)
        return env

    def resolve(self, execution_parameters: Mapping[str, Any] | None) -> Resolved:
        """The values the job runs with, and where each came from."""
        offered, notes = parse_execution_parameters(execution_parameters)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key, requested, default in (
            ("BatchStrategy", self.batch_strategy, DEFAULT_STRATEGY),
            ("MaxPayloadInMB", self.max_payload_mb, DEFAULT_MAX_PAYLOAD_MB),
            ("MaxConcurrentTransforms", self.max_concurrent, DEFAULT_MAX_CONCURRENT),
        ):
            if requested is not None:
                values[key], sources[key] = requested, "request"
            elif key in offered:
                values[key], sources[key] = offered[key], "/execution-parameters"
            else:
                values[key], sources[key] = default, "default"
        return Resolved(
            batch_strategy=values["BatchStrategy"],
            max_payload_mb=values["MaxPayloadInMB"],
            max_concurrent=values["MaxConcurrentTransforms"],
            sources=sources,
            notes=notes,
        )


@dataclass(frozen=True)
class Resolved:
    batch_strategy: str
    max_payload_mb: int
    max_concurrent: int
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(
            f"{key}={value} ({self.sources.get(key, 'default')})"
            for key, value in (
                ("BatchStrategy", self.batch_strategy),
                ("MaxPayloadInMB", self.max_payload_mb),
                ("MaxConcurrentTransforms", self.max_concurrent),
            )
        )


def parse_execution_parameters(document: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The usable values of a GET /execution-parameters answer, and a note for each unusable one."""
    if document is None:
        return {}, []
    if not isinstance(document, Mapping):
        return {}, [f"/execution-parameters answered {type(document).__name__}, not a JSON object: ignored"]
    values: dict[str, Any] = {}
    notes: list[str] = []
    strategy = document.get("BatchStrategy")
    if strategy is not None:
        spelled = str(strategy).replace("_", "").lower()
        matched = next((name for name in STRATEGIES if name.lower() == spelled), None)
        if matched is None:
            notes.append(
                f"/execution-parameters BatchStrategy {strategy!r} is not MULTI_RECORD or SINGLE_RECORD"
            )
        else:
            values["BatchStrategy"] = matched
    payload = document.get("MaxPayloadInMB")
    if payload is not None:
        if _whole(payload) and 0 <= payload <= MAX_PAYLOAD_MB:
            values["MaxPayloadInMB"] = payload
        else:
            notes.append(f"/execution-parameters MaxPayloadInMB {payload!r} is not 0 to {MAX_PAYLOAD_MB}")
    concurrent = document.get("MaxConcurrentTransforms")
    if concurrent is not None:
        if _whole(concurrent) and concurrent >= 1:
            values["MaxConcurrentTransforms"] = concurrent
        else:
            notes.append(f"/execution-parameters MaxConcurrentTransforms {concurrent!r} is not a count")
    return values, notes


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

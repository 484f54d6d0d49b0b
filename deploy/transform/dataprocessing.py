"""DataProcessing: InputFilter, JoinSource and OutputFilter applied to records. Pure.

AWS's workflow ("Associate Prediction Results with Input Records",
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html, and the API
reference of DataProcessing):

1. InputFilter selects, from each input record, what is sent to the model;
2. the model answers;
3. JoinSource=Input joins the *raw* input record (not the filtered one) with the answer:
   - CSV: "each row is taken as a JSON array" and the transformed row is appended to it: record
     `1,2,3` with answer `1` is `1,2,3,1`;
   - JSON and JSON Lines: the answer is added to the input object under "SageMakerOutput"
     (`{"key":1}` with `{"label":1}` is `{"key":1,"SageMakerOutput":{"label":1}}`); an input that is
     not an object goes under "SageMakerInput", beside "SageMakerOutput";
4. OutputFilter selects from the joined record (or from the answer alone, without a join) what is
   written.

Formats: ContentType and Accept must be text/csv, application/json or application/jsonlines. CSV
cells stay the text they were (no number is reformatted); CSV is read and written as RFC 4180 says.
JSON values are written compactly.

Where AWS says nothing, this module decides, and says so:
- The input and the answer must be the same family (CSV with CSV, JSON or JSON Lines with JSON or
  JSON Lines) when they are joined; a CSV row with a JSON answer has no documented shape.
- A MultiRecord answer is cut into one output per record: by line (CSV, JSON Lines), or as a JSON
  array with one element per record (application/json), else by line; any other count of outputs
  fails the request, with advice to use SingleRecord. A SingleRecord answer is the record's output
  whole (a JSON document may span lines).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from deploy.transform import jsonpath
from deploy.transform.jsonpath import JsonPath

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
SUPPORTED_TYPES = (CSV, JSON, JSONLINES)
# Names JSON Lines also goes by; DataProcessing documents application/jsonlines.
JSONLINES_ALIASES = frozenset(
    {JSONLINES, "application/x-jsonlines", "application/jsonl", "application/x-ndjson"}
)
OUTPUT_KEY = "SageMakerOutput"
INPUT_KEY = "SageMakerInput"
JOIN_SOURCES = ("None", "Input")


class DataProcessingError(ValueError):
    """A record, or the model's answer, does not fit the DataProcessing settings."""


def essence(media_type: str | None) -> str:
    """`type/subtype` in lower case, parameters dropped; JSON Lines aliases folded into one name."""
    base = (media_type or "").split(";", 1)[0].strip().lower()
    return JSONLINES if base in JSONLINES_ALIASES else base


def family(media_type: str | None) -> str | None:
    """ "csv" or "json" for the types DataProcessing supports; None otherwise."""
    base = essence(media_type)
    if base == CSV:
        return "csv"
    if base in (JSON, JSONLINES):
        return "json"
    return None


@dataclass(frozen=True)
class DataProcessing:
    input_filter: JsonPath
    join_source: str
    output_filter: JsonPath
    input_family: str | None  # "csv" | "json" (of ContentType); None without DataProcessing
    output_family: str | None  # of Accept
    accept_is_json_document: bool = False  # Accept is application/json, not JSON Lines

    @classmethod
    def create(
        cls,
        input_filter: str = "$",
        join_source: str = "None",
        output_filter: str = "$",
        content_type: str | None = None,
        accept: str | None = None,
    ) -> DataProcessing:
        """Parse and check the three settings against the content types; ValueError saying why."""
        if join_source not in JOIN_SOURCES:
            raise DataProcessingError(f"JoinSource {join_source!r}: expected None or Input")
        parsed_in, parsed_out = (
            _parse_path("InputFilter", input_filter),
            _parse_path("OutputFilter", output_filter),
        )
        processing = cls(
            parsed_in,
            join_source,
            parsed_out,
            family(content_type),
            family(accept),
            essence(accept) == JSON,
        )
        if not processing.active:
            return processing
        for name, value in (("ContentType (--content-type)", content_type), ("Accept (--accept)", accept)):
            if family(value) is None:
                raise DataProcessingError(
                    f"InputFilter, JoinSource and OutputFilter need {name} to be one of "
                    f"{', '.join(SUPPORTED_TYPES)}; it is {value!r}"
                )
        if join_source == "Input" and processing.input_family != processing.output_family:
            raise DataProcessingError(
                f"JoinSource=Input joins records of one format: the input is {essence(content_type)} and "
                f"the output {essence(accept)}; use CSV with CSV, or JSON / JSON Lines with JSON / JSON Lines"
            )
        return processing

    @property
    def active(self) -> bool:
        return self.filters_input or self.join_source == "Input" or not self.output_filter.is_root

    @property
    def filters_input(self) -> bool:
        return not self.input_filter.is_root

    @property
    def processes_output(self) -> bool:
        return self.join_source == "Input" or not self.output_filter.is_root

    # --- the request side -----------------------------------------------------------------------

    def model_input(self, record: bytes) -> bytes:
        """What the model gets for one input record (InputFilter applied), with a line end."""
        if not self.filters_input:
            return record
        value = _parse(record, self.input_family, "the input record")
        try:
            selected = self.input_filter.select(value)
        except jsonpath.SelectionError as exc:
            raise DataProcessingError(f"InputFilter {self.input_filter.text}: {exc}") from None
        return _serialize(selected, self.input_family) + b"\n"

    # --- the response side ----------------------------------------------------------------------

    def split_answer(self, answer: bytes, count: int) -> list[bytes]:
        """One output per record of the request (see the module's docstring for the rule)."""
        if count == 1:
            return [answer]
        if self.output_family == "json" and self.accept_is_json_document:
            try:
                document = json.loads(answer)
            except ValueError:
                document = None
            if isinstance(document, list) and len(document) == count:
                return [_compact_json(item) for item in document]
        lines = [line for line in answer.split(b"\n") if line.strip()]
        if len(lines) != count:
            raise DataProcessingError(
                f"the model answered {len(lines)} line(s) for a request of {count} records, so its "
                "outputs cannot be matched to the records for JoinSource/OutputFilter: answer one line "
                "per record (or, for application/json, an array with one element per record), or send "
                "one record per request (--strategy SingleRecord)"
            )
        return lines

    def output_record(self, record: bytes, output: bytes) -> bytes:
        """The record written for one input record and its output: joined, then OutputFilter applied."""
        answer = _parse(output, self.output_family, "the model's output")
        if self.join_source == "Input":
            joined = _join(_parse(record, self.input_family, "the input record"), answer, self.input_family)
            written_family = self.input_family
        else:
            joined, written_family = answer, self.output_family
        try:
            selected = self.output_filter.select(joined)
        except jsonpath.SelectionError as exc:
            raise DataProcessingError(f"OutputFilter {self.output_filter.text}: {exc}") from None
        return _serialize(selected, written_family)


def _parse_path(name: str, text: str) -> JsonPath:
    try:
        return jsonpath.parse(text)
    except jsonpath.JsonPathSyntaxError as exc:
        raise DataProcessingError(f"{name}: {exc}") from None


def _join(record: Any, answer: Any, input_family: str | None) -> Any:
    if input_family == "csv":
        return [*record, *answer]  # both are rows (lists of cells): the answer's cells go last
    if isinstance(record, dict):
        # AWS: an input attribute named SageMakerOutput "might be overwritten".
        return {**record, OUTPUT_KEY: answer}
    return {INPUT_KEY: record, OUTPUT_KEY: answer}


def _parse(data: bytes, family_name: str | None, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataProcessingError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if family_name == "csv":
        stripped = text.rstrip("\r\n")
        if "\n" in stripped or "\r" in stripped:
            raise DataProcessingError(
                f"{what} holds more than one CSV line; a record is one line (CSV records cannot hold "
                "line breaks)"
            )
        try:
            rows = list(csv.reader([stripped], strict=True))
        except csv.Error as exc:
            raise DataProcessingError(f"{what} is not a CSV row: {exc}") from None
        return rows[0] if rows else []
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DataProcessingError(f"{what} is not JSON: {exc}") from None


def _serialize(value: Any, family_name: str | None) -> bytes:
    if family_name == "csv":
        cells = value if isinstance(value, list) else [value]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(cells)
        return buffer.getvalue().encode("utf-8")
    return _compact_json(value)


def _compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

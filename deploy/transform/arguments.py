"""The data flags `byoc local transform` and `byoc transform` share, and the settings they make."""

from __future__ import annotations

import argparse

from deploy.transform import assembly, records
from deploy.transform.batches import STRATEGIES
from deploy.transform.dataprocessing import JOIN_SOURCES
from deploy.transform.settings import TransformSettings


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """CreateTransformJob's data settings as flags (SageMaker's defaults where a flag is left out)."""
    data = parser.add_argument_group(
        "data (CreateTransformJob's TransformInput, TransformOutput, DataProcessing)"
    )
    data.add_argument(
        "--content-type",
        required=True,
        help="the Content-Type of every request (text/csv, application/jsonlines, ...)",
    )
    data.add_argument("--accept", help="the Accept header of every request (default: none sent)")
    data.add_argument(
        "--split-type",
        choices=records.SPLIT_TYPES,
        default="None",
        help="how files are cut into records (default None: a file is one request)",
    )
    data.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="records per request (default: the container's /execution-parameters, else MultiRecord)",
    )
    data.add_argument(
        "--max-payload",
        type=int,
        metavar="MB",
        help="largest request in MB, 1-100; 0 streams each file in one chunked request "
        "(default: /execution-parameters, else 6)",
    )
    data.add_argument(
        "--max-concurrent",
        type=int,
        metavar="N",
        help="requests in flight per instance (default: /execution-parameters, else 1)",
    )
    data.add_argument(
        "--assemble-with",
        choices=assembly.ASSEMBLE_WITH,
        default="None",
        help="Line: a line end after every output record (default None: answers as they are)",
    )
    data.add_argument(
        "--input-filter", default="$", metavar="JSONPATH", help="what of each record the model gets"
    )
    data.add_argument(
        "--join-source",
        choices=JOIN_SOURCES,
        default="None",
        help="Input: each output record joined to its input record",
    )
    data.add_argument(
        "--output-filter",
        default="$",
        metavar="JSONPATH",
        help="what of each (joined) output record is written",
    )


def settings_from(args: argparse.Namespace, instance_count: int = 1) -> TransformSettings:
    return TransformSettings(
        content_type=args.content_type,
        accept=args.accept,
        split_type=args.split_type,
        batch_strategy=args.strategy,
        max_payload_mb=args.max_payload,
        max_concurrent=args.max_concurrent,
        assemble_with=args.assemble_with,
        input_filter=args.input_filter,
        output_filter=args.output_filter,
        join_source=args.join_source,
        instance_count=instance_count,
    )

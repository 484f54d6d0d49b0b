"""CloudWatch Logs: the lines a training job's containers wrote, stream by stream, new ones only.

SageMaker writes them to the log group /aws/sagemaker/TrainingJobs, streams "<job>/algo-N-<epoch>"
(Developer Guide, "Log Amazon SageMaker Events with Amazon CloudWatch",
https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_code, error_message
from deploy.aws.errors import AwsError

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
MAX_PAGES = 1000


class Logs:
    def __init__(self, client) -> None:
        self.client = client
        self._tokens: dict[str, str | None] = {}

    def training_streams(self, job: str) -> list[str]:
        """The job's log streams so far (none before its first line: no group or stream yet)."""
        try:
            answer = self.client.describe_log_streams(
                logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{job}/"
            )
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return []
            raise AwsError(f"describe_log_streams: {error_message(exc)}") from exc
        return sorted(stream["logStreamName"] for stream in answer.get("logStreams", []))

    def new_lines(self, stream: str) -> list[str]:
        """The stream's lines since the last call for it."""
        lines: list[str] = []
        for _ in range(MAX_PAGES):
            arguments: dict = {
                "logGroupName": TRAINING_LOG_GROUP,
                "logStreamName": stream,
                "startFromHead": True,
            }
            token = self._tokens.get(stream)
            if token:
                arguments["nextToken"] = token
            try:
                answer = self.client.get_log_events(**arguments)
            except ClientError as exc:
                raise AwsError(f"get_log_events: {error_message(exc)}") from exc
            events = answer.get("events", [])
            lines += [event["message"].rstrip("\n") for event in events]
            following = answer.get("nextForwardToken")
            self._tokens[stream] = following or token
            if not events or following == token:
                break
        return lines

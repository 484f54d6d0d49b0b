"""AsyncInferenceConfig of CreateEndpointConfig, from `byoc deploy`'s async flags. Pure.

SageMaker API reference, AsyncInferenceConfig: OutputConfig (S3OutputPath, S3FailurePath,
KmsKeyId, NotificationConfig {SuccessTopic, ErrorTopic, IncludeInferenceResponseIn}) and
ClientConfig.MaxConcurrentInvocationsPerInstance (1-1000; left out, SageMaker chooses). An endpoint
config with it serves InvokeEndpointAsync only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.async_inference.locations import LocationError, parse_s3_uri

MAX_CONCURRENT_PER_INSTANCE = 1000
MAX_S3_PATH = 512
_SNS_ARN = re.compile(r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]*:[0-9]{12}:[\w\-]{1,256}$")
INCLUDE_RESPONSE = ("SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC")


class AsyncConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AsyncSettings:
    output_path: str
    failure_path: str | None = None
    max_concurrent_per_instance: int | None = None
    success_topic: str | None = None
    error_topic: str | None = None
    kms_key_id: str | None = None

    def check(self) -> AsyncSettings:
        for flag, value in (("--async-output", self.output_path), ("--async-failure", self.failure_path)):
            if value is None:
                continue
            if len(value) > MAX_S3_PATH:
                raise AsyncConfigError(f"{flag} is {len(value)} characters; the limit is {MAX_S3_PATH}")
            try:
                parse_s3_uri(value, flag)
            except LocationError as exc:
                raise AsyncConfigError(str(exc)) from None
        cap = self.max_concurrent_per_instance
        if cap is not None and not 1 <= cap <= MAX_CONCURRENT_PER_INSTANCE:
            raise AsyncConfigError(f"--async-max-concurrent {cap}: 1 to {MAX_CONCURRENT_PER_INSTANCE}")
        for flag, topic in (("--sns-success", self.success_topic), ("--sns-error", self.error_topic)):
            if topic is not None and not _SNS_ARN.match(topic):
                raise AsyncConfigError(
                    f"{flag} {topic!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                )
        return self

    def request(self) -> dict:
        """The AsyncInferenceConfig member of a CreateEndpointConfig request."""
        self.check()
        output: dict = {"S3OutputPath": self.output_path}
        if self.failure_path:
            output["S3FailurePath"] = self.failure_path
        if self.kms_key_id:
            output["KmsKeyId"] = self.kms_key_id
        topics = {}
        if self.success_topic:
            topics["SuccessTopic"] = self.success_topic
        if self.error_topic:
            topics["ErrorTopic"] = self.error_topic
        if topics:
            output["NotificationConfig"] = topics
        config: dict = {"OutputConfig": output}
        if self.max_concurrent_per_instance is not None:
            config["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": self.max_concurrent_per_instance}
        return config


def from_aws(config: dict | None) -> AsyncSettings | None:
    """The settings an endpoint config's AsyncInferenceConfig holds (None for a real-time endpoint)."""
    if not config:
        return None
    output = config.get("OutputConfig") or {}
    topics = output.get("NotificationConfig") or {}
    return AsyncSettings(
        output_path=output.get("S3OutputPath", ""),
        failure_path=output.get("S3FailurePath"),
        max_concurrent_per_instance=(config.get("ClientConfig") or {}).get(
            "MaxConcurrentInvocationsPerInstance"
        ),
        success_topic=topics.get("SuccessTopic"),
        error_topic=topics.get("ErrorTopic"),
        kms_key_id=output.get("KmsKeyId"),
    )

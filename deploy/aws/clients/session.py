"""Aws: one boto3 session and the services the commands call through it.

Clients come from the environment as boto3 reads it (credentials, AWS_REGION / AWS_DEFAULT_REGION
or the CLI config, and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how tests point
them at a local stand-in). Each service's client is created on first use.
"""

from __future__ import annotations

import functools

import boto3

from deploy.aws.clients.autoscaling import AutoScaling
from deploy.aws.clients.cloudwatch import CloudWatch
from deploy.aws.clients.ecr import Ecr
from deploy.aws.clients.logs import Logs
from deploy.aws.clients.runtime import Runtime
from deploy.aws.clients.s3 import S3
from deploy.aws.clients.sagemaker import SageMaker
from deploy.aws.errors import AwsError


class Aws:
    def __init__(self, region: str | None = None) -> None:
        self.session = boto3.session.Session(region_name=region)
        if not self.session.region_name:
            raise AwsError(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), `aws configure set region`, "
                "or pass --region"
            )

    @property
    def region(self) -> str:
        return self.session.region_name

    @functools.cached_property
    def account(self) -> str:
        """The account the credentials belong to (STS GetCallerIdentity)."""
        return self.session.client("sts").get_caller_identity()["Account"]

    @functools.cached_property
    def sagemaker(self) -> SageMaker:
        return SageMaker(self.session.client("sagemaker"))

    @functools.cached_property
    def runtime(self) -> Runtime:
        return Runtime(self.session.client("sagemaker-runtime"))

    @functools.cached_property
    def s3(self) -> S3:
        return S3(self.session.client("s3"), self.region)

    @functools.cached_property
    def ecr(self) -> Ecr:
        return Ecr(self.session.client("ecr"))

    @functools.cached_property
    def autoscaling(self) -> AutoScaling:
        return AutoScaling(self.session.client("application-autoscaling"))

    @functools.cached_property
    def cloudwatch(self) -> CloudWatch:
        return CloudWatch(self.session.client("cloudwatch"))

    @functools.cached_property
    def logs(self) -> Logs:
        return Logs(self.session.client("logs"))

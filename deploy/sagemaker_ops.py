"""The AWS calls (boto3), thin: requests come from deploy.plan, their meaning from deploy.waiters.

Clients come from the environment as boto3 reads it (credentials, AWS_REGION / AWS_DEFAULT_REGION
or the CLI config, and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how tests point
them at a local stand-in).
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from deploy.names import ENDPOINT_TAG, belongs_to, parse_s3_uri, scaling_resource_id
from deploy.plan import SCALABLE_DIMENSION


class AwsError(RuntimeError):
    """An AWS call that failed in a way the user must see; the message is the cause."""


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"


def _not_found(exc: ClientError) -> bool:
    message = exc.response.get("Error", {}).get("Message", "")
    return error_code(exc) in ("ValidationException", "ValidationError", "ResourceNotFound") and (
        "Could not find" in message or "does not exist" in message or "not found" in message.lower()
    )


class Aws:
    """boto3 clients from one session, created on first use."""

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

    @functools.cache  # noqa: B019 - one client per service for the life of the command
    def client(self, service: str):
        return self.session.client(service)

    @property
    def sagemaker(self):
        return self.client("sagemaker")

    @property
    def account(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    # --- S3 --------------------------------------------------------------------------------------

    def default_bucket(self) -> str:
        """sagemaker-REGION-ACCOUNT, as the SageMaker SDK names it; created when missing."""
        bucket = f"sagemaker-{self.region}-{self.account}"
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise AwsError(f"S3 bucket {bucket}: {error_message(exc)}") from exc
            config = {} if self.region == "us-east-1" else {"LocationConstraint": self.region}
            kwargs = {"CreateBucketConfiguration": config} if config else {}
            s3.create_bucket(Bucket=bucket, **kwargs)
        return bucket

    def upload(self, path: Path, uri: str) -> str:
        bucket, key = parse_s3_uri(uri)
        if not key or key.endswith("/"):
            key += path.name
        try:
            self.client("s3").upload_file(str(path), bucket, key)
        except ClientError as exc:
            raise AwsError(f"upload to s3://{bucket}/{key}: {error_message(exc)}") from exc
        return f"s3://{bucket}/{key}"

    def s3_object_exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            self.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise AwsError(f"{uri}: {error_message(exc)}") from exc
        return True

    # --- ECR -------------------------------------------------------------------------------------------

    def image_problem(self, image: dict) -> str | None:
        """Why SageMaker could not pull this ECR image (None when ECR has it, or cannot say)."""
        image_id = (
            {"imageDigest": image["digest"]} if image["digest"] else {"imageTag": image["tag"] or "latest"}
        )
        try:
            self.client("ecr").describe_images(
                registryId=image["account"], repositoryName=image["repository"], imageIds=[image_id]
            )
        except ClientError as exc:
            if error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return error_message(exc)
            return None  # no permission to look: SageMaker's role may still pull it
        return None

    # --- SageMaker ---------------------------------------------------------------------------------

    def call(self, operation: str, **kwargs):
        try:
            return getattr(self.sagemaker, operation)(**kwargs)
        except ClientError as exc:
            raise AwsError(f"{operation}: {error_message(exc)}") from exc

    def describe_endpoint(self, name: str) -> dict | None:
        try:
            return self.sagemaker.describe_endpoint(EndpointName=name)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise AwsError(f"describe_endpoint: {error_message(exc)}") from exc

    def describe_endpoint_config(self, name: str) -> dict | None:
        try:
            return self.sagemaker.describe_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise AwsError(f"describe_endpoint_config: {error_message(exc)}") from exc

    def describe_model(self, name: str) -> dict | None:
        try:
            return self.sagemaker.describe_model(ModelName=name)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise AwsError(f"describe_model: {error_message(exc)}") from exc

    def delete(self, kind: str, name: str) -> bool:
        """Delete an endpoint / endpoint_config / model; False when it was already gone."""
        key = {"endpoint": "EndpointName", "endpoint_config": "EndpointConfigName", "model": "ModelName"}[
            kind
        ]
        try:
            getattr(self.sagemaker, f"delete_{kind}")(**{key: name})
        except ClientError as exc:
            if _not_found(exc):
                return False
            raise AwsError(f"delete_{kind} {name}: {error_message(exc)}") from exc
        return True

    def _tagged_for(self, arn: str, endpoint: str) -> bool:
        try:
            tags = self.sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
        except ClientError:
            return False
        return any(t.get("Key") == ENDPOINT_TAG and t.get("Value") == endpoint for t in tags)

    def owned_configs(self, endpoint: str) -> list[str]:
        """Endpoint configs this tool created for `endpoint` (by name prefix, confirmed by tag)."""
        found = []
        for config in self._list("list_endpoint_configs", "EndpointConfigs"):
            name = config["EndpointConfigName"]
            if belongs_to(name, endpoint) and self._tagged_for(config["EndpointConfigArn"], endpoint):
                found.append(name)
        return found

    def owned_models(self, endpoint: str) -> list[str]:
        found = []
        for model in self._list("list_models", "Models"):
            name = model["ModelName"]
            if belongs_to(name, endpoint) and self._tagged_for(model["ModelArn"], endpoint):
                found.append(name)
        return found

    def _list(self, operation: str, key: str, limit: int = 100) -> list[dict]:
        items: list[dict] = []
        kwargs: dict = {"MaxResults": 100}
        for _ in range(limit):  # bounded: at most 10,000 resources
            page = self.call(operation, **kwargs)
            items += page.get(key, [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return items

    # --- Application Auto Scaling --------------------------------------------------------------

    def scaling_target(self, endpoint: str, variant: str) -> tuple[dict, list[dict]] | None:
        """(scalable target, its policies) of a variant, or None when it is not registered."""
        autoscaling = self.client("application-autoscaling")
        resource = scaling_resource_id(endpoint, variant)
        targets = autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[resource], ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalableTargets", [])
        if not targets:
            return None
        policies = autoscaling.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalingPolicies", [])
        return targets[0], policies

    def register_scaling(self, target_request: dict, policy_request: dict) -> str:
        autoscaling = self.client("application-autoscaling")
        try:
            autoscaling.register_scalable_target(**target_request)
            answer = autoscaling.put_scaling_policy(**policy_request)
        except ClientError as exc:
            raise AwsError(f"auto scaling: {error_message(exc)}") from exc
        return answer.get("PolicyARN", "")

    def deregister_scaling(self, endpoint: str, variant: str) -> bool:
        """Remove a variant's policies and scalable target; False when none was registered."""
        registered = self.scaling_target(endpoint, variant)
        if registered is None:
            return False
        autoscaling = self.client("application-autoscaling")
        resource = scaling_resource_id(endpoint, variant)
        try:
            for policy in registered[1]:
                autoscaling.delete_scaling_policy(
                    PolicyName=policy["PolicyName"],
                    ServiceNamespace="sagemaker",
                    ResourceId=resource,
                    ScalableDimension=SCALABLE_DIMENSION,
                )
            autoscaling.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION
            )
        except ClientError as exc:
            raise AwsError(f"auto scaling: {error_message(exc)}") from exc
        return True

    # --- CloudWatch and the runtime ---------------------------------------------------------------

    def metric_datapoints(
        self,
        endpoint: str,
        variant: str,
        metric: str,
        statistic: str,
        start: datetime,
        end: datetime,
        period: int,
    ) -> list[dict]:
        statistics = sorted({statistic, "Maximum", "SampleCount"})
        answer = self.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ],
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=statistics,
        )
        return sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])

    def invoke(self, endpoint: str, body: bytes, content_type: str, **extra) -> dict:
        return self.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=content_type, **extra
        )

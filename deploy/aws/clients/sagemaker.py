"""SageMaker's control plane: models, endpoint configs, endpoints and training jobs, and finding byoc's own.

Requests come built from deploy.aws.plan; a "does not exist" answer to a describe or delete is
None or False, any other refusal an AwsError naming the operation.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_message, is_not_found
from deploy.aws.errors import AwsError
from deploy.aws.plan.naming import ENDPOINT_TAG, belongs_to, tags

# The name parameter of each kind of resource, for describe_* and delete_*.
NAME_KEYS = {
    "endpoint": "EndpointName",
    "endpoint_config": "EndpointConfigName",
    "model": "ModelName",
    "training_job": "TrainingJobName",
}
MAX_LIST_PAGES = 100  # at most 10,000 resources of a kind


class SageMaker:
    def __init__(self, client) -> None:
        self.client = client

    # --- create and update -------------------------------------------------------------------

    def create_model(self, request: dict) -> None:
        self._call("create_model", **request)

    def create_endpoint_config(self, request: dict) -> None:
        self._call("create_endpoint_config", **request)

    def create_training_job(self, request: dict) -> None:
        self._call("create_training_job", **request)

    def describe_training_job(self, name: str) -> dict | None:
        return self._describe("training_job", name)

    def create_endpoint(self, endpoint: str, config_name: str) -> None:
        self._call(
            "create_endpoint", EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags(endpoint)
        )

    def update_endpoint(self, endpoint: str, config_name: str, deployment: dict | None) -> None:
        request: dict = {"EndpointName": endpoint, "EndpointConfigName": config_name}
        if deployment:
            request["DeploymentConfig"] = deployment
        self._call("update_endpoint", **request)

    # --- describe and delete -----------------------------------------------------------------

    def describe_endpoint(self, name: str) -> dict | None:
        return self._describe("endpoint", name)

    def describe_endpoint_config(self, name: str) -> dict | None:
        return self._describe("endpoint_config", name)

    def describe_model(self, name: str) -> dict | None:
        return self._describe("model", name)

    def delete(self, kind: str, name: str) -> bool:
        """Delete an endpoint / endpoint_config / model; False when it was already gone."""
        try:
            getattr(self.client, f"delete_{kind}")(**{NAME_KEYS[kind]: name})
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise AwsError(f"delete_{kind} {name}: {error_message(exc)}") from exc
        return True

    # --- what byoc created for an endpoint ----------------------------------------------------

    def owned_configs(self, endpoint: str) -> list[str]:
        """Endpoint configs byoc created for `endpoint` (by name prefix, confirmed by tag)."""
        return self._owned("list_endpoint_configs", "EndpointConfigs", "EndpointConfig", endpoint)

    def owned_models(self, endpoint: str) -> list[str]:
        """Models byoc created for `endpoint` (by name prefix, confirmed by tag)."""
        return self._owned("list_models", "Models", "Model", endpoint)

    # --- helpers ------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs) -> dict:
        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            raise AwsError(f"{operation}: {error_message(exc)}") from exc

    def _describe(self, kind: str, name: str) -> dict | None:
        try:
            return getattr(self.client, f"describe_{kind}")(**{NAME_KEYS[kind]: name})
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise AwsError(f"describe_{kind}: {error_message(exc)}") from exc

    def _owned(self, operation: str, key: str, prefix: str, endpoint: str) -> list[str]:
        found = []
        for item in self._list(operation, key):
            name = item[f"{prefix}Name"]
            if belongs_to(name, endpoint) and self._tagged_for(item[f"{prefix}Arn"], endpoint):
                found.append(name)
        return found

    def _tagged_for(self, arn: str, endpoint: str) -> bool:
        try:
            found = self.client.list_tags(ResourceArn=arn).get("Tags", [])
        except ClientError:
            return False
        return any(tag.get("Key") == ENDPOINT_TAG and tag.get("Value") == endpoint for tag in found)

    def _list(self, operation: str, key: str) -> list[dict]:
        items: list[dict] = []
        kwargs: dict = {"MaxResults": 100}
        for _ in range(MAX_LIST_PAGES):
            page = self._call(operation, **kwargs)
            items += page.get(key, [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return items

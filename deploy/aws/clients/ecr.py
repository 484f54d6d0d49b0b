"""ECR: whether SageMaker could pull an image."""

from __future__ import annotations

from botocore.exceptions import ClientError

from deploy.aws.clients.botocore_errors import error_code, error_message
from deploy.aws.uris import EcrImage


class Ecr:
    def __init__(self, client) -> None:
        self.client = client

    def image_problem(self, image: EcrImage) -> str | None:
        """Why SageMaker could not pull this image (None when ECR has it, or cannot say)."""
        image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag or "latest"}
        try:
            self.client.describe_images(
                registryId=image.account, repositoryName=image.repository, imageIds=[image_id]
            )
        except ClientError as exc:
            if error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return error_message(exc)
            return None  # no permission to look: SageMaker's role may still pull it
        return None

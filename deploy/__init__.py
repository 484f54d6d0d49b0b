"""The AWS side of the toolkit (ECR push, SageMaker endpoints, auto scaling, metrics) and the local
endpoint that stands in for SageMaker on your machine. Not part of the image: the runtime never
imports it, and `byoc` offers its commands only where it (and boto3) are installed.
"""

"""The AWS side of the toolkit (ECR push, SageMaker endpoints, auto scaling, metrics) and the local
endpoint that stands in for SageMaker on your machine. Not part of the image: the runtime never
imports it, and `byoc` offers its commands only where it (and boto3) are installed.

cli.py               the groups of commands byoc.py adds
aws/                 the AWS commands (deploy.aws)
local/               `byoc local` (deploy.local)
sagemaker_names.py   SageMaker's rule for resource names         } shared by both groups,
container_env.py     --env NAME=VALUE, SageMaker's rules            } so a local endpoint takes
endpoint_metrics.py  the endpoint metrics, as CloudWatch names them } what SageMaker takes
tables.py            text and Markdown tables (the benchmark's too)
"""

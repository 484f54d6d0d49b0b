"""One thin wrapper per AWS service: boto3 calls in, plain values or AwsError out.

session.py       Aws: the boto3 session (region, credentials, account) and the services below
sagemaker.py     SageMaker's control plane: models, endpoint configs, endpoints, tags
runtime.py       SageMaker Runtime: InvokeEndpoint
s3.py            buckets and objects
ecr.py           whether an image exists
autoscaling.py   Application Auto Scaling of endpoint variants
cloudwatch.py    endpoint metrics
"""

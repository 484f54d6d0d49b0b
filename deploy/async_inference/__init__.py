"""Asynchronous inference (InvokeEndpointAsync, AsyncInferenceConfig), locally and on SageMaker.

Pure logic: `requests` (InvokeEndpointAsync on the wire; where the result objects go), `locations`
(S3 URIs), `queue` (the endpoint's queue: cap, expiry, the queue metrics), `config`
(AsyncInferenceConfig, from `byoc deploy`'s and `byoc local up`'s flags). Scaling on the backlog is
an AWS request: deploy.aws.plan.async_scaling.
I/O: `processor` (one request: its payload from S3, the container, its result to S3), `service`
(the async side of a local endpoint's front).
"""

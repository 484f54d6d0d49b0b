"""Asynchronous inference (InvokeEndpointAsync, AsyncInferenceConfig), locally and on SageMaker.

Pure logic: `requests` (InvokeEndpointAsync on the wire; where the result objects go), `locations`
(S3 URIs), `queue` (the endpoint's queue: cap, expiry, the queue metrics), `config`
(AsyncInferenceConfig of `byoc deploy`), `scaling` (scaling on the backlog, down to zero).
I/O: `processor` (one request: its payload from S3, the container, its result to S3).
"""

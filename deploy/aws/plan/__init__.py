"""The requests the AWS commands send, built from typed values: no AWS calls, no I/O.

naming.py      the names and the tag of what byoc creates
endpoints.py   CreateModel, CreateEndpointConfig, UpdateEndpoint's deployment (capacity, traffic)
scaling.py     Application Auto Scaling: the scalable target and its target-tracking policy
metrics.py     the CloudWatch window and period of `byoc metrics`, and the summary of its answer
"""

"""`byoc local`: a SageMaker endpoint on this machine.

Pure logic (no I/O): `wire` (the SageMaker Runtime API's headers and error shapes), `pool`
(round-robin over healthy instances), `state` (the state file's schema), `metrics` (the counters).
I/O: `store` (the state files and locks), `docker` (the docker CLI), `containers` (an endpoint's
instances), `front` (the ASGI front, a daemon per endpoint), `front_process` (starting and
stopping it), `front_api` (its admin routes and the client to them), `endpoints` (up, update,
down and the reads, in order), `commands` (the command line).
"""

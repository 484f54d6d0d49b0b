"""`byoc local`: a SageMaker endpoint on this machine.

Pure logic (no I/O): `wire` (the SageMaker Runtime API's headers and error shapes), `pool`
(round-robin over healthy instances), `state` (the state file's schema), `metrics` (the counters).
I/O: `docker` (the docker CLI), `front` (the ASGI front, a daemon per endpoint), `manager`
(up, update, down, ls).
"""

"""Batch transform: CreateTransformJob's semantics, on this machine and for the AWS command.

Pure logic (no I/O): `records` (SplitType: splitting a file into records), `batches` (BatchStrategy
and MaxPayloadInMB: packing records into requests), `jsonpath` (the JSONPath subset of
DataProcessing), `dataprocessing` (InputFilter, JoinSource, OutputFilter), `assembly`
(AssembleWith), `settings` (checking a job's settings; /execution-parameters; the container's
environment), `failures` (what a failed request says), `arguments` (the data flags both commands
share).
I/O: `layout` (input files and their outputs), `progress` (the progress line), `engine` (requests to
serving containers, outputs written in order), `local` and `cli` (`byoc local transform`). The AWS
command's request is deploy.aws.plan.transform_job, its flow deploy.aws.flows.transform.
"""

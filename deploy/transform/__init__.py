"""Batch transform: CreateTransformJob's semantics, on this machine and for the AWS command.

Pure logic (no I/O): `records` (SplitType: splitting a file into records), `batches` (BatchStrategy
and MaxPayloadInMB: packing records into requests), `jsonpath` (the JSONPath subset of
DataProcessing), `dataprocessing` (InputFilter, JoinSource, OutputFilter), `assembly`
(AssembleWith), `settings` (checking a job's settings; /execution-parameters; the container's
environment), `failures` (what a failed request says).
I/O: `layout` (input files and their outputs), `progress` (the progress line), `engine` (requests to
serving containers, outputs written in order).
"""

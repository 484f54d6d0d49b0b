"""`byoc` commands for SageMaker: push, upload, deploy, update, invoke, autoscale, delete, metrics, status.

commands.py   the command line: argparse -> typed requests -> a flow; exit statuses
flows/        one module per command: what it does, in order (a new command adds one here)
plan/         the requests AWS receives, built from typed values (pure)
clients/      one wrapper per AWS service, thin: boto3 calls and their errors
waiters.py    what an endpoint's state means, and polling it
output.py     what the user reads: progress lines, tables, descriptions
"""

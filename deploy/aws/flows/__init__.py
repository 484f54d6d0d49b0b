"""What each AWS command does, in order: one module per command, each with its typed request.

deploy and update share model_config (a new model and endpoint config) and upload (a local model
archive to S3). A new command (train, transform, async invoke) adds its own module here, and its
parser in deploy.aws.commands.
"""

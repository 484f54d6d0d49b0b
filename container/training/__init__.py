"""`train`: SageMaker's training container contract in script mode, as AWS's training toolkit runs it.

job_config    /opt/ml/input/config/*.json -> TrainingEnv (pure parsing)
hyperparameters  decoding, the sagemaker_* split, the script's command-line arguments (pure)
sm_environment   the SM_* variables the script reads (pure)
entry_point      which command runs the user's program (pure)
process          runs it: signals forwarded, a grace period, then a kill
launch           inside the script's process: runs the program, records why it failed
outcome          /opt/ml/output/failure and success
trainer          the `train` command: the steps above in order
"""

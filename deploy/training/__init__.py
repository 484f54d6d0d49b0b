"""Training jobs from the command line: `byoc local train` (the image on this machine, /opt/ml laid out
as SageMaker lays it out) and `byoc train` (a SageMaker training job), and what `byoc deploy
--from-training-job` takes from a finished job.

    job_inputs         --hyperparameter and --channel parsed; the hyperparameters the SDK would send (pure)
    opt_ml             the /opt/ml/input/config documents for each host (pure) and their staging
    archives           model.tar.gz and output.tar.gz of what the job left (deterministic)
    local_job          the containers of a local job: docker create, cp, start, cp back
    job_request        the CreateTrainingJob request (pure)
    sagemaker_job      upload the code, create the job, follow it (status, transitions, log)
    trained_model      the model of a finished job: image, artifacts, code settings (pure)
    commands           the command line
"""

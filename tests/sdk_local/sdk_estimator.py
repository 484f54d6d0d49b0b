"""Run by test_sdk_local_mode.py in a Python with the SageMaker Python SDK 2.x: the README's first example,
with this project's image, in local mode.

    python sdk_estimator.py IMAGE SOURCE_DIR TRAIN_DIR PORT

Estimator(image_uri=IMAGE, entry_point="train.py", source_dir=SOURCE_DIR, ...).fit({"train": file://})
then .deploy(instance_type="local") and predictor.predict(...). Prints one JSON document.
"""

import json
import sys

import boto3
from sagemaker.deserializers import JSONDeserializer
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession
from sagemaker.serializers import CSVSerializer

image, source_dir, train_dir, port = sys.argv[1:5]
session = LocalSession(boto_session=boto3.Session(region_name="us-east-1"))
session.config = {"local": {"local_code": True, "serving_port": int(port)}}

estimator = Estimator(
    image_uri=image,
    role="arn:aws:iam::123456789012:role/SageMakerRole",
    entry_point="train.py",
    source_dir=source_dir,
    hyperparameters={"max_iter": 300},
    instance_count=1,
    instance_type="local",
    sagemaker_session=session,
)
estimator.fit({"train": f"file://{train_dir}"})
predictor = estimator.deploy(
    initial_instance_count=1,
    instance_type="local",
    serializer=CSVSerializer(),
    deserializer=JSONDeserializer(),
)
try:
    answer = predictor.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
finally:
    predictor.delete_endpoint()
description = session.sagemaker_client.describe_training_job(estimator.latest_training_job.name)
print(
    json.dumps(
        {"status": description["TrainingJobStatus"], "model_data": estimator.model_data, "answer": answer}
    )
)

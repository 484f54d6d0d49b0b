"""Run by test_sdk_local_mode.py in a Python with the SageMaker Python SDK 2.x: the README's third example,
SKLearnModel with an entry point and source directory, with this project's image, in local mode.

    python sdk_sklearn_model.py IMAGE MODEL_TAR_GZ SOURCE_DIR PORT

Prints one JSON document: the prediction.
"""

import json
import sys

import boto3
from sagemaker.deserializers import JSONDeserializer
from sagemaker.local import LocalSession
from sagemaker.serializers import JSONSerializer
from sagemaker.sklearn import SKLearnModel

image, model_data, source_dir, port = sys.argv[1:5]
session = LocalSession(boto_session=boto3.Session(region_name="us-east-1"))
session.config = {"local": {"local_code": True, "serving_port": int(port)}}

model = SKLearnModel(
    model_data=f"file://{model_data}",
    role="arn:aws:iam::123456789012:role/SageMakerRole",
    entry_point="inference.py",
    source_dir=source_dir,
    image_uri=image,
    # Without it, local mode asks STS for a default bucket it never uses (an SDK trap offline).
    code_location="s3://unused-bucket/prefix",
    sagemaker_session=session,
)
predictor = model.deploy(
    initial_instance_count=1,
    instance_type="local",
    serializer=JSONSerializer(),
    deserializer=JSONDeserializer(),
)
try:
    answer = predictor.predict({"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
finally:
    predictor.delete_endpoint()
print(json.dumps({"answer": answer}))

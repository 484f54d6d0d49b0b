"""Run by test_sagemaker_sdk.py in a Python that has the SageMaker Python SDK (v2's Predictor API).

    python sdk_predict.py ENDPOINT_NAME     (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME points at the front)

Prints one JSON document: the CSV and JSON answers and the error a bad payload raised.
"""

import json
import sys

import boto3
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer
from sagemaker.session import Session

name = sys.argv[1]
session = Session(boto_session=boto3.Session(region_name="us-east-1"))
csv_predictor = Predictor(
    name, sagemaker_session=session, serializer=CSVSerializer(), deserializer=CSVDeserializer()
)
json_predictor = Predictor(
    name, sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
)
rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
csv_answer = csv_predictor.predict(rows, initial_args={"Accept": "text/csv"})
json_answer = json_predictor.predict(rows)
try:
    csv_predictor.predict([[1, 2]])
    error = None
except Exception as exc:  # botocore's ModelError, as on a real endpoint
    response = getattr(exc, "response", {})
    error = {"type": type(exc).__name__, "status": response.get("OriginalStatusCode")}
print(json.dumps({"csv": csv_answer, "json": json_answer, "error": error}))

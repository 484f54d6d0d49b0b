"""A Flask app serving the seed's inference.py: AWS's scikit-learn serving stacks in miniature.

Both AWS stacks put a Flask app on gunicorn (the "scikit_bring_your_own" example with sync
workers, the SageMaker scikit-learn container with gevent workers), each worker loading its own
model copy. The harness runs it as

    gunicorn -k sync|gevent -w <CPUs> --timeout 60 -b 127.0.0.1:PORT --chdir bench/servers flask_app:app

with BENCH_MODEL_DIR naming the model directory, whose code/ holds the unchanged
model_artifacts/code/inference.py (and container_shim.py as container.py, for its imports).
Unlike those stacks there is no nginx in front (one hop less for the baseline).
"""

import os
import sys

import flask

MODEL_DIR = os.environ["BENCH_MODEL_DIR"]
sys.path.insert(0, os.path.join(MODEL_DIR, "code"))
import inference  # noqa: E402  (from the model's code/, as the SageMaker toolkits import it)

model = inference.model_fn(MODEL_DIR)
app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    return flask.Response(status=200)


@app.route("/invocations", methods=["POST"])
def invocations():
    data = inference.input_fn(flask.request.get_data(as_text=True), flask.request.mimetype)
    prediction = inference.predict_fn(data, model)
    body, content_type = inference.output_fn(prediction, flask.request.headers.get("Accept"))
    return flask.Response(body, status=200, mimetype=content_type)

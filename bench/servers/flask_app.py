"""A Flask app serving bench/servers/inference.py: AWS's scikit-learn serving stacks in miniature.

Both AWS stacks put a Flask app on gunicorn (the "scikit_bring_your_own" example with sync
workers, the SageMaker scikit-learn container with gevent workers), each worker loading its own
model copy. The harness runs it as

    gunicorn -k sync|gevent -w <CPUs> --timeout 60 -b 127.0.0.1:PORT flask_app:app

from this directory, with BENCH_MODEL_DIR naming the model directory. Unlike those stacks there is
no nginx in front (one hop less for the baseline).
"""

import os

import flask
import inference

model = inference.model_fn(os.environ["BENCH_MODEL_DIR"])
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

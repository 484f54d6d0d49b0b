"""Start AWS's sagemaker-inference toolkit on multi-model-server, as AWS's containers do.

AWS's framework containers call `model_server.start_model_server(handler_service=...)` from their
`serve` entry point; this does exactly that with the toolkit's default handler service, whose
Transformer imports the user module `inference` from <model_dir>/code (the seed's
model_artifacts/code/inference.py, unchanged, with bench/servers/container_shim.py beside it as
container.py). start_model_server writes the MMS config, runs
`multi-model-server --start --model-store / --mms-config CONFIG --log-config <toolkit's log4j2.xml>
--models model=<model_dir>` and waits on the Java frontend. Two things are redirected for a
benchmark on a shared machine, nothing else:

- the config goes to $BENCH_MMS_CONFIG instead of /etc/sagemaker-mms.properties;
- the addresses in it are 127.0.0.1 instead of 0.0.0.0 (loopback only).

Run with the MMS virtualenv's python; SAGEMAKER_BASE_DIR points at the directory holding model/,
SAGEMAKER_BIND_TO_PORT picks the port, TMPDIR keeps MMS's pid file private to the run.
"""

import os

from sagemaker_inference import model_server

model_server.MMS_CONFIG_FILE = os.environ["BENCH_MMS_CONFIG"]
_generate = model_server._generate_mms_config_properties


def _loopback_config(env, handler_service=None):
    return _generate(env, handler_service).replace("0.0.0.0", "127.0.0.1")


model_server._generate_mms_config_properties = _loopback_config

if __name__ == "__main__":
    # BENCH_MMS_HANDLER: another handler service (the multi-model run's, bench/servers/mms_mme_handler.py).
    handler = os.environ.get("BENCH_MMS_HANDLER")
    if handler:
        model_server.start_model_server(handler_service=handler)
    else:
        model_server.start_model_server()

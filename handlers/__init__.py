"""Handler modules: one file per framework, each declaring itself in `HANDLER = HandlerSpec(...)`.

The server serves with the handler BYOC_HANDLER names or, when it is unset, the one whose declared
model files the model directory holds (container.contract.registry). A handler's functions (model_fn,
input_fn, predict_fn, output_fn or transform_fn, pre_model_fn, model_warmup_fn) have the same
signatures as a user's inference.py; functions it leaves out fall back to the runtime's defaults
(container.contract.defaults), and functions the user's inference.py defines take precedence over
it. Modules whose names start with "_" are helpers, not handlers. tests/handlers/test_contract.py
tests every handler here. See the README, "Writing a handler".
"""

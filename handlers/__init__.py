"""Handler modules: one file per framework, selected with BYOC_HANDLER (default "sklearn").

A handler module defines any of model_fn, input_fn, predict_fn, output_fn (or transform_fn),
pre_model_fn and model_warmup_fn, with the same signatures as a user's inference.py. Functions it
leaves out fall back to the runtime's defaults (container.contract.defaults); functions the user's
inference.py defines take precedence over it. See the README, "Writing a handler".
"""

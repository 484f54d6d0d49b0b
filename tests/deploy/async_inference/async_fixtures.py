"""Names shared by the async tests (conftest.py is not imported by name)."""

BUCKET = "async-bucket"

SLOW_CODE = {
    "inference.py": """
    import time


    def model_fn(model_dir):
        return None


    def transform_fn(model, data, content_type, accept):
        time.sleep(float(data))
        return "slept", "text/plain"
    """
}

# Custom inference code that answers with what it was given: the contract of an async endpoint as
# a handler meets it.
SEEING_CODE = {
    "inference.py": """
    import json


    def model_fn(model_dir):
        return None


    def input_fn(input_data, content_type, context):
        return {
            "input_type": type(input_data).__name__,
            "input": input_data if isinstance(input_data, str) else input_data.decode(),
            "content_type": content_type,
        }


    def predict_fn(data, model, context):
        return data


    def output_fn(prediction, accept, context):
        seen = dict(prediction)
        seen["accept"] = accept
        seen["inference_id"] = context.inference_id
        seen["custom_attributes"] = context.custom_attributes
        names = context.headers
        seen["sagemaker_headers"] = sorted(name for name in names if name.startswith("x-amzn-sagemaker"))
        seen["batch_transform"] = context.config.batch_transform
        return json.dumps(seen), "application/json"
    """
}

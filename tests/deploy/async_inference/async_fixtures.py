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

"""The XGBoost handler's settings: the variables AWS's XGBoost container reads, parsed once at start.

    SAGEMAKER_INFERENCE_OUTPUT    comma-separated keys the response holds per row (selectable output):
                                  predicted_label, labels, probability, probabilities, raw_score,
                                  raw_scores, predicted_score; unset = AWS's default response
    SAGEMAKER_BATCH               true during a batch transform job: AWS's batch response shapes
    SAGEMAKER_INFERENCE_ENSEMBLE  false: serve only the first model file of the directory (default true:
                                  several model files are an ensemble)

As aws/sagemaker-xgboost-container (1.7-1, algorithm_mode/serve_utils.py and serve.py) reads them, with
two deliberate differences, each a start-up error instead of a silent surprise: a key that is none of the
seven is refused (AWS answers every request with that key set to NaN), and SAGEMAKER_BATCH=false means
false (AWS takes any non-empty value as true). Blank values count as unset, as for every setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from container.config import ConfigError, EnvReader

INFERENCE_OUTPUT_ENV = "SAGEMAKER_INFERENCE_OUTPUT"
BATCH_ENV = "SAGEMAKER_BATCH"
ENSEMBLE_ENV = "SAGEMAKER_INFERENCE_ENSEMBLE"

PREDICTED_LABEL = "predicted_label"
LABELS = "labels"
PROBABILITY = "probability"
PROBABILITIES = "probabilities"
RAW_SCORE = "raw_score"
RAW_SCORES = "raw_scores"
PREDICTED_SCORE = "predicted_score"
# In the order AWS's container writes them into each JSON object (get_selected_predictions).
OUTPUT_KEYS = (PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES, RAW_SCORE, RAW_SCORES, PREDICTED_SCORE)


@dataclass(frozen=True)
class XGBoostSettings:
    # None: AWS's default response; otherwise the selected keys in the variable's order (CSV columns
    # follow it, duplicates included).
    inference_output: tuple[str, ...] | None = None
    batch: bool = False
    ensemble: bool = True


def read(env: EnvReader) -> XGBoostSettings:
    """The handler's variables through the runtime's parser (HandlerSpec.settings); ConfigError naming
    the first invalid one, which stops the server at start."""
    return XGBoostSettings(
        inference_output=_output_keys(env.raw(INFERENCE_OUTPUT_ENV)),
        batch=env.boolean(BATCH_ENV, False),
        ensemble=env.boolean(ENSEMBLE_ENV, True),
    )


def load(environ: Mapping[str, str]) -> XGBoostSettings:
    """read() from a mapping of variables."""
    return read(EnvReader(environ))


def _output_keys(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    # AWS removes every space and lower-cases: "Predicted_Label, probability" selects two keys.
    keys = tuple(raw.replace(" ", "").lower().split(","))
    unknown = [key for key in keys if key not in OUTPUT_KEYS]
    if unknown:
        raise ConfigError(
            INFERENCE_OUTPUT_ENV,
            raw,
            f"comma-separated keys among {', '.join(OUTPUT_KEYS)} (not {', '.join(map(repr, unknown))})",
        )
    return keys

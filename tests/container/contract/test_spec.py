"""Handler specs (container.contract.spec): typed options, checks when built, what resolve takes."""

from __future__ import annotations

import types

import numpy as np
import pytest

from container.codecs import encode
from container.contract import defaults
from container.contract import functions as handler
from container.contract.spec import HandlerOptions, HandlerSpec, spec_of
from container.errors import HandlerContractError


def module(name: str, **attributes) -> types.ModuleType:
    result = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(result, key, value)
    return result


def model_fn(model_dir):
    return model_dir


def predict_fn(data, model):
    return data


def output_fn(prediction, accept):
    return b"x", accept


# --- options ----------------------------------------------------------------------------------


def test_options_from_a_dict_and_as_a_dataclass():
    assert HandlerOptions.parse({"preload": True}, "m") == HandlerOptions(preload=True, batchable=None)
    assert HandlerOptions.parse(None, "m") == HandlerOptions()
    options = HandlerOptions(batchable=True)
    assert HandlerOptions.parse(options, "m") is options


def test_a_misspelt_option_names_it_and_lists_the_valid_ones():
    with pytest.raises(HandlerContractError) as caught:
        HandlerOptions.parse({"preload": True, "batchabel": True}, "handlers.mine")
    assert str(caught.value) == (
        "handlers.mine: unknown BYOC_HANDLER_OPTIONS key 'batchabel'; the valid keys are preload, batchable, "
        "line_per_row"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"preload": "yes"},
            "handlers.mine: BYOC_HANDLER_OPTIONS['preload'] must be True or False, not 'yes'",
        ),
        (
            ["preload"],
            "handlers.mine: BYOC_HANDLER_OPTIONS must be a dict or a container.HandlerOptions, not list",
        ),
    ],
)
def test_options_of_the_wrong_type(raw, message):
    with pytest.raises(HandlerContractError) as caught:
        HandlerOptions.parse(raw, "handlers.mine")
    assert str(caught.value) == message


def test_a_user_module_with_a_misspelt_option_stops_resolution():
    user = module("inference", predict_fn=predict_fn, BYOC_HANDLER_OPTIONS={"batch": True})
    with pytest.raises(HandlerContractError, match="inference: unknown BYOC_HANDLER_OPTIONS key 'batch'"):
        handler.resolve(user, HandlerSpec(name="plain"))


def test_a_spec_takes_options_as_a_dict_and_checks_them():
    assert HandlerSpec(name="x", options={"preload": True}).options == HandlerOptions(preload=True)
    with pytest.raises(HandlerContractError, match="unknown BYOC_HANDLER_OPTIONS key 'prelaod'"):
        HandlerSpec(name="x", options={"prelaod": True})


# --- the spec's own checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "a HandlerSpec needs a name"),
        ({"predict_fn": "predict"}, "handler 'x': predict_fn must be a function, not str"),
        ({"model_files": "*.bin"}, "handler 'x': model_files must be a tuple of non-empty strings"),
        (
            {"packages": ("numpy",), "strict_packages": ("torch",)},
            "strict_packages torch must also be listed",
        ),
        (
            {"output_types": ("text/csv",), "default_accept": "application/json"},
            "is not one of its output_types",
        ),
        (
            {"transform_fn": lambda m, d, c, a: d, "predict_fn": predict_fn},
            "handler 'x' defines transform_fn together with predict_fn",
        ),
    ],
)
def test_a_broken_spec_is_refused_when_it_is_built(fields, message):
    with pytest.raises(HandlerContractError, match=message):
        HandlerSpec(**{"name": "x", **fields})


def test_model_files_match_case_insensitively():
    spec = HandlerSpec(name="x", model_files=("xgboost-model", "*.UBJ"))
    assert spec.claims("XGBoost-Model") and spec.claims("m.ubj") and spec.claims("M.Ubj")
    assert not spec.claims("xgboost-model.json") and not spec.claims("model.joblib")


# --- reading a module -------------------------------------------------------------------------


def test_a_module_without_a_spec_is_read_like_a_user_module():
    plain = module("mypackage.handler", model_fn=model_fn, BYOC_HANDLER_OPTIONS={"preload": True})
    spec = spec_of(plain, "mypackage.handler")
    assert spec.name == "mypackage.handler" and spec.source == "mypackage.handler"
    assert spec.functions() == {"model_fn": model_fn}
    assert spec.options == HandlerOptions(preload=True)
    assert spec.model_files == () and spec.packages == ()


def test_a_module_spec_gets_its_module_name():
    spec = spec_of(
        module("handlers.mine", model_fn=model_fn, HANDLER=HandlerSpec(name="mine", model_fn=model_fn))
    )
    assert spec.module == "handlers.mine"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {
                "model_fn": model_fn,
                "predict_fn": predict_fn,
                "HANDLER": HandlerSpec(name="mine", model_fn=model_fn),
            },
            "handlers.mine defines predict_fn, which its HANDLER does not declare: "
            "pass predict_fn=predict_fn",
        ),
        (
            {"HANDLER": HandlerSpec(name="mine"), "BYOC_HANDLER_OPTIONS": {"preload": True}},
            "handlers.mine has both HANDLER and BYOC_HANDLER_OPTIONS",
        ),
        ({"HANDLER": {"name": "mine"}}, "handlers.mine.HANDLER must be a container.HandlerSpec, not dict"),
    ],
)
def test_a_module_whose_spec_and_top_level_disagree(attributes, message):
    with pytest.raises(HandlerContractError, match=message):
        spec_of(module("handlers.mine", **attributes))


# --- what resolve takes from a spec -----------------------------------------------------------


def split_halves(prediction, sizes):
    return [prediction[:1], prediction[1:]]


def check(data, model):
    return data


SPEC = HandlerSpec(
    name="mine",
    module="handlers.mine",
    model_fn=model_fn,
    predict_fn=predict_fn,
    output_fn=output_fn,
    options=HandlerOptions(preload=True, batchable=True),
    output_types=("text/csv", "application/x-mine"),
    validate_input=check,
    split_prediction=split_halves,
)


def test_resolve_takes_the_spec_functions_options_and_hooks():
    resolved = handler.resolve(None, SPEC)
    assert resolved.model_fn.source == "handlers.mine"
    assert resolved.model_fn.options == HandlerOptions(preload=True, batchable=True)
    assert resolved.input_fn.source == defaults.__name__
    assert resolved.output_types == ("text/csv", "application/x-mine")
    assert resolved.validate_input is check
    assert resolved.split_prediction is split_halves
    assert resolved.spec is SPEC


def test_a_user_predict_fn_is_not_checked_by_the_specs_validate_input():
    def user_predict(data, model):
        return data

    resolved = handler.resolve(module("inference", predict_fn=user_predict), SPEC)
    assert resolved.predict_fn.source == "inference"
    assert resolved.validate_input is None
    # Its predictions are written by the spec's output_fn, so cut the spec's way.
    assert resolved.output_fn.source == "handlers.mine"
    assert resolved.split_prediction is split_halves


def test_output_types_of_the_runtimes_encoders_and_of_user_code():
    assert handler.resolve(None, HandlerSpec(name="empty")).output_types == tuple(encode.ENCODERS)
    user = module("inference", output_fn=lambda prediction, accept: b"mine")
    assert handler.resolve(user, SPEC).output_types is None  # user code declares none
    # A user module that re-exports the spec's own output_fn writes what the spec says it writes.
    assert handler.resolve(module("inference", output_fn=output_fn), SPEC).output_types == SPEC.output_types
    assert handler.resolve(None, HandlerSpec(name="x", output_fn=output_fn)).output_types is None


def test_a_spec_without_a_splitter_leaves_it_to_the_runtime():
    resolved = handler.resolve(None, HandlerSpec(name="x", predict_fn=predict_fn))
    assert resolved.split_prediction is None
    assert resolved.validate_input is None
    np.testing.assert_array_equal(resolved.predict_fn(np.ones(2), "m", context=None), np.ones(2))

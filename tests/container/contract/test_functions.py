"""Handler resolution (container.contract.functions): layers, transform_fn rules, context detection, arity."""

from __future__ import annotations

import functools
import types

import pytest

from container.contract import defaults, registry
from container.contract import functions as handler
from container.contract.context import Context
from container.contract.spec import HandlerOptions
from container.errors import HandlerContractError, InferenceError, StartupError


def module(name: str, **functions) -> types.ModuleType:
    result = types.ModuleType(name)
    for key, value in functions.items():
        setattr(result, key, value)
    return result


def tagged(tag: str, arity: int):
    """A function of `arity` positional parameters that returns its tag and arguments."""
    if arity == 1:
        return lambda a: (tag, a)
    if arity == 2:
        return lambda a, b: (tag, a, b)
    if arity == 3:
        return lambda a, b, c: (tag, a, b, c)
    return lambda a, b, c, d: (tag, a, b, c, d)


ARITY = {name: len(arguments) for name, arguments in handler.ARITY.items()}


def full(tag: str, *names: str) -> dict:
    return {name: tagged(f"{tag}.{name}", ARITY[name]) for name in names}


CONTEXT = Context(model_dir="/opt/ml/model")


def test_user_module_first_then_handler_then_defaults():
    user = module("user", **full("user", "model_fn", "predict_fn"))
    framework = module("framework", **full("framework", "model_fn", "input_fn", "predict_fn", "pre_model_fn"))
    resolved = handler.resolve(user, framework)
    assert resolved.model_fn.source == "user"
    assert resolved.pre_model_fn.source == "framework"
    assert resolved.model_warmup_fn is None
    # The user module defines a step function: the request path is built from it first.
    assert resolved.predict_fn.source == "user"
    assert resolved.input_fn.source == "framework"
    assert resolved.output_fn.source == defaults.__name__
    assert resolved.transform_fn is None
    assert resolved.model_fn("/m", context=CONTEXT) == ("user.model_fn", "/m")


def test_without_a_user_module_the_handler_module_then_defaults():
    framework = module("framework", **full("framework", "model_fn", "predict_fn"))
    resolved = handler.resolve(None, framework)
    assert resolved.model_fn.source == "framework"
    assert resolved.input_fn.source == defaults.__name__
    assert resolved.predict_fn.source == "framework"
    assert resolved.output_fn.source == defaults.__name__
    assert resolved.describe() == (
        "model_fn from framework, input_fn from container.contract.defaults, predict_fn from framework, "
        "output_fn from container.contract.defaults"
    )


def test_defaults_alone():
    resolved = handler.resolve(None, module("empty"))
    assert resolved.model_fn.source == defaults.__name__
    with pytest.raises(InferenceError) as caught:
        resolved.model_fn("/m", context=CONTEXT)
    assert caught.value.code == "no_model_fn"
    assert not resolved.writes_own_output


def test_user_transform_fn_replaces_the_handler_modules_steps():
    user = module("user", **full("user", "transform_fn"))
    framework = module("framework", **full("framework", "model_fn", "input_fn", "predict_fn", "output_fn"))
    resolved = handler.resolve(user, framework)
    assert resolved.transform_fn.source == "user"
    assert (resolved.input_fn, resolved.predict_fn, resolved.output_fn) == (None, None, None)
    assert resolved.model_fn.source == "framework"
    assert resolved.writes_own_output


def test_handler_module_transform_fn_is_used_when_the_user_module_has_no_request_path():
    user = module("user", **full("user", "model_fn"))
    framework = module("framework", **full("framework", "transform_fn"))
    resolved = handler.resolve(user, framework)
    assert resolved.transform_fn.source == "framework"
    assert resolved.input_fn is None


def test_user_steps_win_over_a_handler_module_transform_fn():
    user = module("user", **full("user", "predict_fn"))
    framework = module("framework", **full("framework", "transform_fn"))
    resolved = handler.resolve(user, framework)
    assert resolved.transform_fn is None
    assert resolved.predict_fn.source == "user"
    assert resolved.input_fn.source == defaults.__name__


@pytest.mark.parametrize(
    "steps", [("input_fn",), ("predict_fn", "output_fn"), ("input_fn", "predict_fn", "output_fn")]
)
@pytest.mark.parametrize("where", ["user", "framework"])
def test_transform_fn_with_step_functions_in_one_module_is_a_contract_error(steps, where):
    broken = module(where, **full(where, "transform_fn", *steps))
    user, framework = (broken, module("framework")) if where == "user" else (None, broken)
    with pytest.raises(HandlerContractError) as caught:
        handler.resolve(user, framework)
    assert str(caught.value).startswith(f"{where} defines transform_fn together with {', '.join(steps)}: ")


def test_context_is_detected_from_the_signature_and_passed():
    seen = {}

    def input_fn(input_data, content_type, context):
        seen["context"] = context
        return input_data

    def predict_fn(data, model):
        return data

    resolved = handler.resolve(module("user", input_fn=input_fn, predict_fn=predict_fn), module("framework"))
    assert resolved.input_fn.takes_context is True
    assert resolved.predict_fn.takes_context is False
    assert resolved.input_fn(b"x", "text/csv", context=CONTEXT) == b"x"
    assert seen["context"] is CONTEXT
    assert resolved.predict_fn([1], "model", context=CONTEXT) == [1]


def test_context_parameter_may_have_any_name_and_a_default():
    def output_fn(prediction, accept, ctx=None):
        return ctx

    resolved = handler.resolve(module("user", output_fn=output_fn), module("framework"))
    assert resolved.output_fn(1, "application/json", context=CONTEXT) is CONTEXT


@pytest.mark.parametrize(
    ("name", "function", "count"),
    [
        ("input_fn", lambda data: data, 1),
        ("input_fn", lambda a, b, c, d: a, 4),
        ("model_fn", lambda: None, 0),
        ("transform_fn", lambda model, data, content_type: data, 3),
        ("output_fn", lambda prediction, **kwargs: prediction, 1),
    ],
)
def test_wrong_arity_is_a_contract_error_naming_the_function(name, function, count):
    with pytest.raises(HandlerContractError) as caught:
        handler.resolve(module("user_code", **{name: function}), module("framework"))
    signature = ", ".join(handler.ARITY[name])
    assert str(caught.value) == (
        f"user_code.{name} takes {count} arguments; "
        f"expected {name}({signature}) or {name}({signature}, context)"
    )


def test_var_positional_and_uninspectable_functions_get_no_context():
    def predict_fn(*args):
        return args

    resolved = handler.resolve(module("user", predict_fn=predict_fn, output_fn=max), module("framework"))
    assert resolved.predict_fn.takes_context is False
    assert resolved.predict_fn(1, 2, context=CONTEXT) == (1, 2)
    assert resolved.output_fn.takes_context is False  # a builtin: no signature to read


def test_callable_objects_and_partials():
    class Predictor:
        def __call__(self, data, model, context):
            return (data, model, context)

    def model_fn(model_dir, suffix):
        return model_dir + suffix

    user = module("user", predict_fn=Predictor(), model_fn=functools.partial(model_fn, suffix="/x"))
    resolved = handler.resolve(user, module("framework"))
    assert resolved.predict_fn.takes_context
    assert resolved.predict_fn(1, 2, context=CONTEXT) == (1, 2, CONTEXT)
    assert resolved.model_fn("/m", context=CONTEXT) == "/m/x"


def test_non_callable_attributes_are_not_functions():
    user = module("user", predict_fn="not a function", input_fn=None)
    resolved = handler.resolve(user, module("framework"))
    assert resolved.predict_fn.source == defaults.__name__
    assert resolved.input_fn.source == defaults.__name__


def test_each_function_carries_the_options_of_its_own_module():
    user = module("user", predict_fn=tagged("user", 2), BYOC_HANDLER_OPTIONS={"batchable": True})
    framework = module(
        "framework",
        model_fn=tagged("framework", 1),
        BYOC_HANDLER_OPTIONS={"batchable": False, "preload": True},
    )
    resolved = handler.resolve(user, framework)
    # Each function carries the options of the module that defined it, not a merge of layers.
    assert resolved.model_fn.options == HandlerOptions(batchable=False, preload=True)
    assert resolved.predict_fn.options == HandlerOptions(batchable=True)


def test_writes_own_output_when_an_output_fn_is_not_the_runtimes():
    framework = module("framework", **full("framework", "output_fn"))
    assert handler.resolve(None, framework).writes_own_output


def test_load_handler_module_by_short_name():
    import handlers.sklearn

    assert registry.load_handler_module("sklearn") is handlers.sklearn
    assert "sklearn" in registry.available_handlers()


def test_load_handler_module_by_dotted_path():
    assert registry.load_handler_module("container.contract.defaults") is defaults


def test_unknown_handler_lists_the_available_ones():
    with pytest.raises(StartupError) as caught:
        registry.load_handler_module("tensorflow_nope")
    assert str(caught.value).startswith(
        "BYOC_HANDLER='tensorflow_nope': no such handler module; available in"
    )
    assert "sklearn" in str(caught.value)


def test_handler_whose_own_import_fails_says_so(tmp_path, monkeypatch):
    package = tmp_path / "byoc_unit_broken"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text("import byoc_unit_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StartupError) as caught:
        registry.load_handler_module("byoc_unit_broken.handler")
    assert "handler 'byoc_unit_broken.handler' failed to import" in str(caught.value)
    assert "byoc_unit_missing_dependency" in str(caught.value)

"""The contract every handler in handlers/ keeps, run against each of them: a new handler is tested by
being added (with its spec's `examples` hook: a tiny model and sample requests, see HandlerExamples).

Per handler: its spec is complete and its module imports without its own framework; a real server,
started without BYOC_HANDLER, chooses it from its example's model files, loads the model and answers
every sample in every advertised response type; requests it cannot read, types it cannot write and
its own bad samples are 4xx with a JSON body; and requests predicted in one batch get what each gets
alone (the same prediction to the last bits of floating point, and then the same bytes).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from importlib import metadata

import httpx
import numpy as np
import pytest
from server_helpers import client, error_body, serving

from container.codecs import mediatypes
from container.config import DEFAULT_ACCEPT, load_config
from container.contract import functions, registry
from container.contract.context import Context
from container.contract.spec import ArchiveContents, HandlerExamples, HandlerSpec, Sample
from container.inference import batching, pipeline
from container.serving.server_process import ServerProcess

pytestmark = pytest.mark.integration

HANDLERS = registry.available_handlers()
UNKNOWN_TYPE = "application/x-byoc-no-such-type"


@pytest.fixture(scope="module", params=HANDLERS)
def spec(request: pytest.FixtureRequest) -> HandlerSpec:
    return registry.load_spec(request.param)


@pytest.fixture(scope="module")
def examples(spec: HandlerSpec, tmp_path_factory: pytest.TempPathFactory) -> HandlerExamples:
    assert spec.examples is not None, f"handlers/{spec.name}.py: its HandlerSpec needs an examples hook"
    return spec.examples(tmp_path_factory.mktemp(f"examples-{spec.name}"))


@pytest.fixture(scope="module")
def server(examples: HandlerExamples) -> Iterator[ServerProcess]:
    with serving(examples.model_dir, env=dict(examples.env)) as running:  # no BYOC_HANDLER: chosen by files
        yield running


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server) as session:
        yield session


def post(http: httpx.Client, sample: Sample, accept: str | None = None) -> httpx.Response:
    headers = {"Content-Type": sample.content_type}
    if accept is not None:
        headers["Accept"] = accept
    return http.post("/invocations", content=sample.body, headers=headers)


def essence(header: str) -> str:
    return mediatypes.parse_media_type(header).essence


# --- the spec ---------------------------------------------------------------------------------


def test_the_spec_declares_what_the_toolkit_needs(spec: HandlerSpec) -> None:
    assert spec.name in HANDLERS, "the spec's name is its file name in handlers/, which BYOC_HANDLER selects"
    assert spec.model_files, "model_files: how the handler is chosen when BYOC_HANDLER is unset"
    assert spec.input_types and spec.output_types, "input_types and output_types: what the suite tests"
    assert spec.packages, "packages: what the manifest records"
    assert registry.missing_packages(spec) == [], "the test environment has every package the handler needs"
    assert spec.model_fn is not None or spec.examples is None


def test_the_examples_cover_every_input_type(spec: HandlerSpec, examples: HandlerExamples) -> None:
    sent = {essence(sample.content_type) for sample in examples.requests}
    assert set(spec.input_types) <= sent, f"no sample request of {sorted(set(spec.input_types) - sent)}"
    assert sent <= set(spec.input_types), (
        f"samples of types it does not advertise: {sorted(sent - set(spec.input_types))}"
    )
    assert examples.bad_requests, "bad_requests: at least one request the handler must refuse with a 4xx"


def test_the_example_is_chosen_by_its_model_files(spec: HandlerSpec, examples: HandlerExamples) -> None:
    specs, failures = registry.discover()
    assert failures == {}
    files = registry.model_dir_files(examples.model_dir)
    choice = registry.choose_by_files(files, specs, where="the example", default="none")
    assert choice.name == spec.name, choice.reason


def test_inspect_finds_nothing_wrong_with_the_example(spec: HandlerSpec, examples: HandlerExamples) -> None:
    if spec.inspect is None:
        pytest.skip(f"the {spec.name} handler has no inspect rules")
    names = frozenset(
        p.relative_to(examples.model_dir).as_posix() for p in examples.model_dir.rglob("*") if p.is_file()
    )
    review = spec.inspect(ArchiveContents(names))
    assert (review.warnings, review.problems) == ((), ())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def toolkit_dependencies() -> set[str]:
    """The runtime's own dependencies (installed wherever the toolkit is), without the extras'."""
    requirements = metadata.requires("byoc-toolkit") or []
    return {
        canonical(re.match(r"[A-Za-z0-9._-]+", line).group())
        for line in requirements
        if "extra ==" not in line
    }


def test_the_module_imports_without_its_own_packages(spec: HandlerSpec) -> None:
    # `byoc inspect` and the choice of handler read every spec, on machines and in images that may
    # not have every framework: a handler imports its framework inside its functions.
    own = {canonical(p) for p in spec.packages} - toolkit_dependencies()
    providers = metadata.packages_distributions()
    blocked = sorted(name for name, dists in providers.items() if {canonical(d) for d in dists} & own)
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)

        sys.meta_path.insert(0, Block())
        from container.contract import registry
        print(registry.load_spec({spec.name!r}).name)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"with {blocked} missing:\n{result.stderr}"
    assert result.stdout.strip() == spec.name


# --- a real server ----------------------------------------------------------------------------


def test_the_server_chooses_it_loads_and_is_ready(
    spec: HandlerSpec, server: ServerProcess, http: httpx.Client
) -> None:
    assert http.get("/ping").status_code == 200
    log = server.log_text()
    assert f"handler: {spec.name} ({server.env['BYOC_MODEL_DIR']} holds " in log
    assert "model loaded in" in log


def test_every_sample_in_every_advertised_type(
    spec: HandlerSpec, examples: HandlerExamples, http: httpx.Client
) -> None:
    for sample in examples.requests:
        for accept in spec.output_types:
            response = post(http, sample, accept)
            assert response.status_code == 200, (sample.content_type, accept, response.text)
            assert essence(response.headers["content-type"]) == accept
            assert response.content


def test_without_accept_the_default_type(
    spec: HandlerSpec, examples: HandlerExamples, http: httpx.Client
) -> None:
    response = post(http, examples.requests[0])
    assert response.status_code == 200, response.text
    assert essence(response.headers["content-type"]) == (spec.default_accept or DEFAULT_ACCEPT)


def test_a_type_it_does_not_read_is_415(examples: HandlerExamples, http: httpx.Client) -> None:
    sample = Sample(examples.requests[0].body, UNKNOWN_TYPE)
    error_body(post(http, sample), 415)


def test_a_type_it_cannot_write_is_406(examples: HandlerExamples, http: httpx.Client) -> None:
    error_body(post(http, examples.requests[0], UNKNOWN_TYPE), 406)


def test_bad_requests_are_4xx_with_a_json_body(examples: HandlerExamples, http: httpx.Client) -> None:
    for sample in examples.bad_requests:
        response = post(http, sample)
        assert 400 <= response.status_code < 500, (sample.why, response.status_code, response.text)
        error_body(response, response.status_code)


# --- batching ---------------------------------------------------------------------------------


def assert_same_prediction(batched: object, alone: object, where: str) -> None:
    """The same structure and values; floats to within the last bits.

    Not bit for bit: BLAS computes a row's dot products in an order that depends on how many rows
    it is given (numpy hands one row to gemv and several to gemm; OpenBLAS' gemm kernels for wide
    rows differ with the row count), so a linear model's probabilities for a row can differ in the
    last bit between a batch and the row alone.
    """
    if isinstance(alone, Mapping):
        assert isinstance(batched, Mapping) and list(batched) == list(alone), where
        for key in alone:
            assert_same_prediction(batched[key], alone[key], f"{where}[{key!r}]")
        return
    expected, found = np.asarray(alone), np.asarray(batched)
    assert (found.shape, found.dtype) == (expected.shape, expected.dtype), where
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-12, err_msg=where)
    else:
        np.testing.assert_array_equal(found, expected, err_msg=where)


def bit_identical(batched: object, alone: object) -> bool:
    if isinstance(alone, Mapping):
        return all(bit_identical(batched[key], alone[key]) for key in alone)  # type: ignore[index]
    expected = np.asarray(alone)
    # equal_nan only where NaN can be: a prediction may carry shared values that are not numbers
    # (the xgboost handler's output settings), which NumPy cannot test for NaN.
    return np.array_equal(np.asarray(batched), expected, equal_nan=expected.dtype.kind in "fc")


def written(handler: functions.Handler, prediction: object, accept: str, context: Context) -> bytes:
    assert handler.output_fn is not None
    result = handler.output_fn(prediction, accept, context=context)
    body = result[0] if isinstance(result, tuple) else result
    return body.encode() if isinstance(body, str) else bytes(body)


def test_a_batch_answers_what_each_request_gets_alone(spec: HandlerSpec, examples: HandlerExamples) -> None:
    if not spec.options.batchable:
        pytest.skip(f"the {spec.name} handler is not batchable")
    environ = {**examples.env, "BYOC_MODEL_DIR": str(examples.model_dir)}
    config = load_config(environ).for_handler(spec.name, spec.default_accept, spec.settings)
    handler = functions.resolve(None, spec)
    model = handler.model_fn(str(examples.model_dir), context=Context(str(examples.model_dir), config))

    def context(sample: Sample, accept: str = "") -> Context:
        return Context(str(examples.model_dir), config, content_type=sample.content_type, accept=accept)

    # Requests are batched as the invoker batches them: decoded, checked, grouped by batch key.
    groups: dict[tuple, list[tuple[Sample, object]]] = {}
    for sample in examples.requests:
        decoded = pipeline.decode_request(handler, sample.body, context(sample))
        data = pipeline.validate_request(handler, model, decoded)
        key = batching.batch_key(data)
        if key is not None:
            groups.setdefault(key, []).append((sample, data))
    assert groups, "no sample request can share a batch"
    for members in groups.values():
        if len(members) == 1:
            members = members * 2  # the same request twice is a batch too
        stacked, sizes = batching.stack([data for _, data in members])
        prediction = handler.predict_fn(stacked, model, context=context(members[0][0]))
        # Really cut, not answered request by request after a CannotSplit.
        parts = (handler.split_prediction or batching.split)(prediction, sizes)
        assert len(parts) == len(members)
        for (sample, data), part in zip(members, parts, strict=True):
            alone = handler.predict_fn(data, model, context=context(sample))
            assert_same_prediction(part, alone, f"{sample.content_type} sample, batched")
            for accept in spec.output_types:
                if bit_identical(part, alone):  # then the answers must be the same bytes
                    assert written(handler, part, accept, context(sample, accept)) == written(
                        handler, alone, accept, context(sample, accept)
                    ), (sample.content_type, accept)
        # The runtime's batch path writes each request's own part, in the type that request asked for.
        accepts = [spec.output_types[i % len(spec.output_types)] for i in range(len(members))]
        items = [
            pipeline.BatchItem(data, a, context(s, a)) for (s, data), a in zip(members, accepts, strict=True)
        ]
        outcomes = pipeline.predict_batch(handler, model, items, on_predict=lambda size: None)
        for item, part, (ok, outcome) in zip(items, parts, outcomes, strict=True):
            assert ok, outcome
            assert outcome.body == written(handler, part, item.accept, item.context), item.accept
            assert essence(outcome.content_type) == item.accept

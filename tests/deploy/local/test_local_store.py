"""The state file's schema (deploy.local.state) and the files and locks that hold it (store); no Docker."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from deploy.local.state import EndpointState, InstanceRecord, StateError
from deploy.local.store import Store, home


def sample_state() -> EndpointState:
    return EndpointState(
        name="ep",
        image="img:1",
        model_data="/m.tar.gz",
        model_dir="/home/x/ep/models/gen-1",
        instance_count=1,
        port=8123,
        token="t",
        env={"A": "1"},
        instances=[InstanceRecord(container="c1", name="n1", port=9001, generation=1)],
        created=1.0,
        updated=2.0,
    )


def test_state_round_trips_through_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    store.save(sample_state())
    assert store.names() == ["ep"]
    assert store.load("ep") == sample_state()
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.state_path("ep").stat().st_mode) == 0o600
    assert store.load("ep").instances[0].url == "http://127.0.0.1:9001"
    store.delete("ep")
    assert store.names() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "schema"),
        ({"port": "8080"}, "'port'"),
        ({"instance_count": True}, "'instance_count'"),
        ({"front_pid": "1"}, "front_pid"),
        ({"instances": [{"container": "c"}]}, "instances[0]"),
        ({"env": {"A": 1}}, "'env'"),
    ],
)
def test_a_damaged_state_file_names_the_field(tmp_path: Path, change: dict, message: str) -> None:
    data = {**sample_state().to_dict(), **change}
    path = tmp_path / "ep.json"
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match=message.replace("[", r"\[")):
        Store(tmp_path).load("ep")


def test_unparseable_state_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "ep.json").write_text("{not json")
    with pytest.raises(StateError):
        Store(tmp_path).load("ep")


def test_home_honours_byoc_local_home(tmp_path: Path) -> None:
    assert home({"BYOC_LOCAL_HOME": str(tmp_path)}) == tmp_path
    assert home({}).parts[-2:] == (".byoc", "local")


def test_lock_refuses_a_second_holder_without_waiting(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with (
        store.lock("ep"),
        pytest.raises(StateError, match="another byoc local command"),
        Store(tmp_path).lock("ep", wait=False),
    ):
        pass


def test_multi_model_fields_round_trip_and_older_files_are_single_model(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    many = sample_state()
    many.multi_model, many.model_data_prefix, many.model_cache = True, "s3://b/models/", "Disabled"
    store.save(many)
    assert store.load("ep") == many
    older = {
        k: v
        for k, v in sample_state().to_dict().items()
        if k not in ("multi_model", "model_data_prefix", "model_cache")
    }
    (tmp_path / "ep.json").write_text(json.dumps(older))
    loaded = Store(tmp_path).load("ep")
    assert not loaded.multi_model and loaded.model_cache == "Enabled"
    (tmp_path / "ep.json").write_text(json.dumps({**older, "model_cache": "Sometimes"}))
    with pytest.raises(StateError, match="model_cache"):
        Store(tmp_path).load("ep")

"""The pure parts of multi-model mode: the /models answers, memory limits and admission, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from container.config import MIB, ConfigError, load_config
from container.multimodel import catalog, memory
from container.multimodel.catalog import CatalogError


def test_pages_cover_every_model_once_and_the_last_has_no_token() -> None:
    """SageMaker asks without next_page_token, then passes back each nextPageToken until none comes
    (https://docs.aws.amazon.com/sagemaker/latest/dg/mms-container-apis.html, ListModels)."""
    models = {f"m{i:02d}": f"/opt/ml/models/m{i:02d}/model" for i in range(7)}
    seen, token = [], None
    while True:
        page = catalog.page(models, "3", token)
        seen += [entry["modelName"] for entry in page["models"]]
        assert all(entry["modelUrl"] == models[entry["modelName"]] for entry in page["models"])
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == sorted(models)
    full = catalog.page(dict(list(models.items())[:3]), "3", None)
    assert "nextPageToken" not in full  # an exactly full last page says it is the last
    assert catalog.page({}, None, None) == {"models": []}
    assert len(catalog.page({f"x{i:03d}": "/u" for i in range(150)}, None, None)["models"]) == 100


@pytest.mark.parametrize(
    ("limit", "token"), [("0", None), ("101", None), ("x", None), (None, "-1"), (None, "a")]
)
def test_bad_pagination_is_a_400(limit: str | None, token: str | None) -> None:
    with pytest.raises(CatalogError) as refused:
        catalog.page({"a": "/a"}, limit, token)
    assert refused.value.status == 400 and refused.value.code == "invalid_pagination"


def test_load_requests_are_checked() -> None:
    assert catalog.check_load_request({"model_name": "a", "url": "/opt/ml/models/a/model"}) == (
        "a",
        "/opt/ml/models/a/model",
    )
    for document in ({}, {"model_name": "a"}, {"url": "/x"}, {"model_name": 1, "url": "/x"}):
        with pytest.raises(CatalogError) as refused:
            catalog.check_load_request(document)
        assert refused.value.status == 400
    for name in ("a/b", "", "x" * 257, "tab\there"):
        with pytest.raises(CatalogError):
            catalog.check_name(name)


def test_urls_must_be_absolute_existing_directories(tmp_path: Path) -> None:
    assert catalog.check_url(str(tmp_path)) == tmp_path
    with pytest.raises(CatalogError) as missing:
        catalog.check_url(str(tmp_path / "absent"))
    assert missing.value.status == 404
    for url in ("relative/model", f"{tmp_path}/../etc"):
        with pytest.raises(CatalogError) as bad:
            catalog.check_url(url)
        assert bad.value.status == 400


def test_socket_names_are_short_and_distinct() -> None:
    names = {catalog.socket_name(n) for n in ("a", "b", "a" * 256, "ünïcode")}
    assert len(names) == 4 and all(len(n) < 50 for n in names)


# --- memory ------------------------------------------------------------------------------------


def test_cgroup_v2_limit_and_working_set(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text("500000000\n")
    (tmp_path / "memory.stat").write_text("anon 300000000\ninactive_file 100000000\nactive_file 5\n")
    usage = memory.cgroup_usage(tmp_path)
    assert usage == memory.Usage(1073741824, 400000000, "cgroup v2 memory.max")


def test_cgroup_v1_limit_and_working_set(tmp_path: Path) -> None:
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text("838860800\n")
    (v1 / "memory.usage_in_bytes").write_text("300000000\n")
    (v1 / "memory.stat").write_text("cache 10\ntotal_inactive_file 50000000\n")
    usage = memory.cgroup_usage(tmp_path)
    assert usage == memory.Usage(838860800, 250000000, "cgroup v1 memory.limit_in_bytes")


def test_no_cgroup_limit_is_none(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.cgroup_usage(tmp_path) is None
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text(str(2**63 - 4096))
    assert memory.cgroup_usage(tmp_path) is None


def test_admission_keeps_the_headroom_and_counts_loads_under_way() -> None:
    usage = memory.Usage(limit=1000 * MIB, used=500 * MIB, source="test")
    kept = memory.headroom(usage.limit, None)
    assert kept == 100 * MIB
    assert memory.admit(400 * MIB, usage, reserved=0, kept_free=kept).admitted
    refused = memory.admit(401 * MIB, usage, reserved=0, kept_free=kept)
    assert not refused.admitted and "unload a model first" in refused.message("m")
    assert not memory.admit(300 * MIB, usage, reserved=200 * MIB, kept_free=kept).admitted
    assert memory.admit(500 * MIB, usage, reserved=0, kept_free=memory.headroom(usage.limit, 0)).admitted
    assert memory.over_limit(memory.Usage(1000 * MIB, 951 * MIB, "t"), kept)
    assert not memory.over_limit(memory.Usage(1000 * MIB, 949 * MIB, "t"), kept)


def test_estimates_prefer_what_the_model_took_before() -> None:
    assert memory.estimate(100 * MIB, 2, measured=70 * MIB, worker_bytes=None) == 70 * MIB
    fresh = memory.estimate(100 * MIB, 2, measured=None, worker_bytes=10 * MIB)
    assert fresh == 150 * MIB + memory.PROCESS_BASE_BYTES + 20 * MIB


def test_this_process_memory_is_read() -> None:
    import os

    own = memory.process_memory(os.getpid())
    assert own.rss > 0 and 0 < own.uss <= own.pss <= own.rss
    assert memory.process_memory(2**22 + 12345) == memory.ProcessMemory()
    total, each = memory.tree_memory(os.getpid())
    assert each[0][0] == os.getpid() and total.rss >= own.rss


def test_directory_bytes_leave_out_the_code(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x" * 1000)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_bytes(b"y" * 500)
    assert memory.directory_bytes(tmp_path) == 1000


# --- settings ----------------------------------------------------------------------------------


def test_multi_model_settings() -> None:
    """SageMaker sets SAGEMAKER_MULTI_MODEL=true for a multi-model endpoint (AWS's toolkit:
    sagemaker_inference/model_server.py, ENABLE_MULTI_MODEL)."""
    config = load_config(
        {
            "SAGEMAKER_MULTI_MODEL": "true",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "BYOC_FRONT_WORKERS": "2",
            "BYOC_MEMORY_LIMIT_MB": "2048",
            "BYOC_MEMORY_HEADROOM_MB": "0",
        }
    )
    assert config.multi_model and config.model_workers == 3 and config.front_workers == 2
    assert config.memory_limit_bytes == 2048 * MIB and config.memory_headroom_bytes == 0
    default = load_config({})
    assert not default.multi_model and default.model_workers is None
    assert default.memory_limit_bytes is None and default.memory_headroom_bytes is None
    for name, value in (("SAGEMAKER_MULTI_MODEL", "maybe"), ("BYOC_MEMORY_LIMIT_MB", "0")):
        with pytest.raises(ConfigError) as refused:
            load_config({name: value})
        assert refused.value.variable == name

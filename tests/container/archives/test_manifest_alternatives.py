"""Package entries with alternative distributions ("xgboost-cpu|xgboost"): recorded once, found either way."""

from __future__ import annotations

from importlib import metadata

from container.archives import manifest


def test_a_version_is_recorded_under_the_first_name_from_whichever_is_installed():
    numpy = metadata.version("numpy")
    versions = manifest.installed_versions(["not-a-real-distribution|numpy", "also-not-real"])
    assert versions["not-a-real-distribution"] == numpy
    assert "also-not-real" not in versions and "numpy" not in versions


def test_the_manifest_keeps_the_alternatives_and_the_load_check_uses_them():
    saved = manifest.build(
        {},
        {"not-a-real-distribution": metadata.version("numpy")},
        "x",
        None,
        "test",
        strict=(),
        packages=("not-a-real-distribution|numpy",),
    )
    assert saved["alternatives"] == {"not-a-real-distribution": ["numpy"]}
    entries = manifest.recorded_packages(saved)
    assert entries == ["not-a-real-distribution|numpy"]
    assert manifest.compare(saved, manifest.installed_versions(entries)) == []

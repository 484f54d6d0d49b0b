"""Fixtures of the Docker tests: the sample model extracted, the shared container, containers per test.

The engine, the image and the sample archives are session fixtures of tests/conftest.py (shared
with tests/deploy/local).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docker_helpers import Container, extract_in_image


@pytest.fixture(scope="session")
def model_dir(image: str, model_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample archive extracted as SageMaker would, by the image's own `byoc extract`."""
    return extract_in_image(image, model_archive, tmp_path_factory.mktemp("extracted"))


# --- containers -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def serving(image: str, model_dir: Path) -> Iterator[Container]:
    """The shared container: the sample model mounted, two workers, a custom port."""
    container = Container(image, model_dir=model_dir, workers=2)
    try:
        container.wait_until_ready()
        yield container
    finally:
        container.remove()


@pytest.fixture
def start_container(image: str) -> Iterator[Callable[..., Container]]:
    """Start containers of the image for one test; all are removed when it ends."""
    started: list[Container] = []

    def start(*, ready: bool = True, **kwargs) -> Container:
        container = Container(kwargs.pop("image", image), **kwargs)
        started.append(container)
        if ready:
            container.wait_until_ready()
        return container

    yield start
    for container in started:
        container.remove()

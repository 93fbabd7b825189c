"""docker-py (Debian's python3-docker) against a real berthd.

Run by tests/compat_dockerpy.rs, which starts berthd, loads a busybox image
as $BERTH_TEST_IMAGE and points DOCKER_HOST at it. Names of everything the
tests create start with "berth-py-"; each test removes what it made.
"""

import os
import uuid

import docker
import pytest


@pytest.fixture(scope="session")
def client():
    c = docker.from_env(version="1.41", timeout=60)
    yield c
    c.close()


@pytest.fixture(scope="session")
def image():
    return os.environ["BERTH_TEST_IMAGE"]


@pytest.fixture
def name():
    """A unique container name; the container is force-removed afterwards."""
    n = "berth-py-" + uuid.uuid4().hex[:10]
    yield n
    c = docker.from_env(version="1.41")
    try:
        c.containers.get(n).remove(force=True)
    except docker.errors.NotFound:
        pass
    finally:
        c.close()

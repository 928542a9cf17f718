"""Fixtures for the ava.media tests: the verbalize config's media section."""

import pytest

from tests.helpers import compose_verbalize


@pytest.fixture(scope="module")
def media_cfg():
    return compose_verbalize([]).media

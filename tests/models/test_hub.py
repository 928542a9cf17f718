"""ava.models.hub: one reading of HF_HUB_OFFLINE, with huggingface_hub's rule, for the loaders and CLIP."""

from __future__ import annotations

import pytest
from huggingface_hub import constants

from ava.encoders import base
from ava.models.hub import hub_offline


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", "0", "false", "no", "", "2", " 1"])
def test_hub_offline_reads_the_variable_as_huggingface_hub_does(monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub_offline() is constants._is_true(value)


def test_hub_offline_unset_and_set_after_import(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert hub_offline() is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # after huggingface_hub read it: still seen
    assert hub_offline() is True


def test_clip_and_captioner_never_ask_the_network_offline(monkeypatch):
    def no_dns(*_args, **_kwargs):
        raise AssertionError("offline: the hub's host must not be looked up")

    monkeypatch.setattr(base.socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert base.hub_reachable() is False

"""How push talks to the Hub: timeouts installed and restored, bytes counted, tokens scrubbed."""

from __future__ import annotations

from nifti2parquet.hub.client import ClientSettings, UploadMeter, hub_session, scrub


def test_scrub_removes_tokens() -> None:
    text = "401 for hf_abcdef123 (Authorization: Bearer hf_other999)"
    assert scrub(text, ("hf_abcdef123", None)) == "401 for <token> (Authorization: Bearer <token>)"


def test_upload_meter_takes_back_bytes_of_a_retried_request() -> None:
    seen: list[int] = []
    meter = UploadMeter(seen.append)
    meter.start("put-1")
    meter.add("put-1", 100)
    meter.start("put-1")  # the library retried the same upload
    meter.add("put-1", 250)
    assert meter.total == 250 and sum(seen) == 250


def test_hub_session_installs_timeouts_and_restores_the_client_factory() -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import _http, get_session

    before, xet_before = _http._GLOBAL_CLIENT_FACTORY, constants.HF_HUB_DISABLE_XET
    with hub_session(ClientSettings(read_timeout=7, connect_timeout=3), UploadMeter(), True):
        timeout = get_session().timeout
        assert (timeout.connect, timeout.read, timeout.write) == (3, 7, 7)
        assert constants.HF_HUB_DISABLE_XET is True
    assert _http._GLOBAL_CLIENT_FACTORY is before
    xet_after = constants.HF_HUB_DISABLE_XET
    assert xet_after == xet_before
    assert get_session().timeout.read != 7

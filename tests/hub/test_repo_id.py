"""A Hub dataset repo id, checked before any request (push, verify --repo, export)."""

from __future__ import annotations

import pytest

from nifti2parquet.common.errors import OptionError
from nifti2parquet.hub.repo_id import check_repo_id, is_repo_id


@pytest.mark.parametrize(
    "repo_id", ["noslash", "a/b/c", "user/", "/name", "user/na me", "user/..x", "user/x.git"]
)
def test_refuses_malformed_repo_ids(repo_id: str) -> None:
    with pytest.raises(OptionError, match="not a Hub repo id"):
        check_repo_id(repo_id)


@pytest.mark.parametrize("repo_id", ["u--x/data", "user/x-", "user/naïve", "a" * 97 + "/x"])
def test_refuses_what_the_hub_refuses(repo_id: str) -> None:
    assert not is_repo_id(repo_id)
    with pytest.raises(OptionError, match="not a Hub repo id"):
        check_repo_id(repo_id)


@pytest.mark.parametrize("repo_id", ["my-lab/brain-scans", "a/b", "Org.1/Data_set.v2"])
def test_accepts_namespace_slash_name(repo_id: str) -> None:
    assert is_repo_id(repo_id) and check_repo_id(repo_id) == repo_id

"""Policy schema for issue 11: the ``cors`` section and ``upstream.unsupported_params``."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from router.errors import PolicyError
from router.policy.loader import parse_policy
from tests.support import policy_dict


def _parse(**extra: Any) -> Any:
    pol = {**policy_dict(small=["http://127.0.0.1:1"]), **extra}
    return parse_policy(yaml.safe_dump(pol), env={}).policy


def _problems(**extra: Any) -> str:
    with pytest.raises(PolicyError) as ei:
        _parse(**extra)
    return " ".join(ei.value.problems)


def test_cors_off_by_default_and_defaults_when_on() -> None:
    assert _parse().cors is None
    cors = _parse(cors={"allow_origins": ["https://App.example.com:8443", "*"]}).cors
    assert cors.allow_origins == ["https://app.example.com:8443", "*"]
    assert cors.allow_methods == ["GET", "POST", "OPTIONS"] and cors.allow_headers == ["*"]
    assert cors.max_age_s == 600


@pytest.mark.parametrize("cors, where", [
    ({"allow_origins": []}, "allow_origins"),
    ({"allow_origins": ["https://app.example.com/"]}, "is not an origin"),
    ({"allow_origins": ["app.example.com"]}, "is not an origin"),
    ({"allow_origins": ["*"], "allow_methods": ["DELETE"]}, "not methods of this API"),
    ({"allow_origins": ["*"], "allow_headers": ["bad header"]}, "is not a header name"),
    ({"allow_origins": ["*"], "max_age_s": -1}, "max_age_s"),
    ({"allow_origins": ["*"], "credentials": True}, "credentials"),
])
def test_cors_errors_name_the_field(cors: dict[str, Any], where: str) -> None:
    msg = _problems(cors=cors)
    assert "cors" in msg and where in msg


def test_unsupported_params_drop_by_default_or_reject() -> None:
    assert _parse().upstream.unsupported_params == "drop"
    up = {"connect_timeout_s": 2, "read_timeout_s": 30, "retries": 1, "unsupported_params": "reject"}
    assert _parse(upstream=up).upstream.unsupported_params == "reject"
    assert "unsupported_params" in _problems(upstream={**up, "unsupported_params": "map"})

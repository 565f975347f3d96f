"""The order in which services are looked for: pure logic, fake attempts, no server needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.backends import (
    POSTGRES,
    REDIS,
    BadServiceURL,
    Candidate,
    Found,
    candidates,
    choose,
    find,
    find_postgres,
    find_redis,
    redact,
    url_problem,
)
from harness.backends.discovery import Attempt


def recorder(working: dict[str, str]):
    """An attempt function that succeeds for the kinds in ``working`` and records what was tried."""
    calls: list[str] = []

    def attempt(cand: Candidate) -> Attempt:
        calls.append(cand.how)
        if cand.how in working:
            return Attempt(working[cand.how], version="9.9")
        return Attempt(None, f"{cand.how} is down")

    return attempt, calls


def test_explicit_argument_beats_environment_and_is_the_only_candidate() -> None:
    env = {"CLOCKBENCH_POSTGRES_URL": "postgresql://env@h/db"}
    cands = candidates(POSTGRES, "postgresql://arg@h/db", env, allow_embedded=True)
    assert cands == [Candidate("explicit", "postgresql://arg@h/db", "--postgres-url")]


def test_environment_variable_is_explicit_when_no_argument() -> None:
    cands = candidates(REDIS, None, {"CLOCKBENCH_REDIS_URL": "redis://h:1/0"}, allow_embedded=True)
    assert cands == [Candidate("explicit", "redis://h:1/0", "CLOCKBENCH_REDIS_URL")]


def test_without_explicit_url_local_port_comes_before_embedded() -> None:
    cands = candidates(POSTGRES, None, {}, allow_embedded=True)
    assert [c.how for c in cands] == ["local port", "embedded"]
    assert cands[0].url == "postgresql://postgres@127.0.0.1:5432/test"
    assert cands[1].url is None and cands[1].source == "pgserver"
    assert [c.how for c in candidates(REDIS, None, {}, allow_embedded=False)] == ["local port"]


def test_blank_environment_variable_is_ignored() -> None:
    assert [c.how for c in candidates(REDIS, None, {"CLOCKBENCH_REDIS_URL": "  "}, True)] == ["local port", "embedded"]


def test_local_port_beats_embedded_and_embedded_is_not_started() -> None:
    attempt, calls = recorder({"local port": "redis://127.0.0.1:6379/0", "embedded": "redis://127.0.0.1:5555/0"})
    found = choose(REDIS, candidates(REDIS, None, {}, True), attempt)
    assert (found.how, found.url, found.version, found.ok) == ("local port", "redis://127.0.0.1:6379/0", "9.9", True)
    assert calls == ["local port"]


def test_embedded_is_used_when_local_port_fails_and_the_reason_is_kept() -> None:
    attempt, calls = recorder({"embedded": "postgresql://postgres@127.0.0.1:40000/test"})
    found = choose(POSTGRES, candidates(POSTGRES, None, {}, True), attempt)
    assert found.how == "embedded" and found.url == "postgresql://postgres@127.0.0.1:40000/test"
    assert calls == ["local port", "embedded"]
    assert found.tried == ("local port (127.0.0.1:5432): local port is down",)


def test_explicit_failure_is_not_replaced_by_a_working_local_server() -> None:
    attempt, calls = recorder({"local port": "x", "embedded": "y"})
    found = choose(POSTGRES, candidates(POSTGRES, "postgresql://u@h/db", {}, True), attempt)
    assert calls == ["explicit"]
    assert not found.ok and found.how == "missing" and found.explicit
    assert found.reason == "explicit is down" and found.source == "--postgres-url"


def test_nothing_available_gives_missing_with_every_reason() -> None:
    attempt, _ = recorder({})
    found = choose(REDIS, candidates(REDIS, None, {}, True), attempt)
    assert not found.ok and found.url is None and found.how == "missing" and not found.explicit
    assert "local port is down" in found.reason and "embedded is down" in found.reason


@given(
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_choose_takes_the_first_working_candidate(works: list[bool], has_explicit: bool, allow_embedded: bool) -> None:
    kinds = ["explicit", "local port", "embedded"]
    working = {k: f"redis://{k.replace(' ', '-')}:1/0" for k, ok in zip(kinds, works) if ok}
    cands = candidates(REDIS, "redis://explicit:1/0" if has_explicit else None, {}, allow_embedded)
    attempt, calls = recorder(working)
    found = choose(REDIS, cands, attempt)
    expected = next((c.how for c in cands if c.how in working), None)
    if expected is None:
        assert not found.ok and calls == [c.how for c in cands]
    else:
        assert found.how == expected and found.url == working[expected]
        assert calls == [c.how for c in cands][: calls.index(expected) + 1]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgres://u:p@db.example:6543/x",
        "postgresql://postgres@/test?host=/tmp/sock",
    ],
)
def test_good_postgres_urls(url: str) -> None:
    assert url_problem(POSTGRES, url) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:5432/test", "not a postgres URL"),
        ("127.0.0.1:5432", "not a postgres URL"),
        ("postgresql://h:notaport/db", "not a valid URL"),
        ("postgresql:///test", "names no host"),
    ],
)
def test_bad_postgres_urls_are_named(url: str, words: str) -> None:
    problem = url_problem(POSTGRES, url)
    assert problem is not None and words in problem and repr(url) in problem


def test_redis_urls() -> None:
    assert url_problem(REDIS, "redis://127.0.0.1:6379/0") is None
    assert url_problem(REDIS, "unix:///tmp/redis.sock") is None
    assert "not a redis URL" in (url_problem(REDIS, "postgresql://h/db") or "")


def test_malformed_explicit_url_raises_bad_service_url_naming_its_source() -> None:
    with pytest.raises(BadServiceURL, match="CLOCKBENCH_REDIS_URL: 'localhost:6379' is not a redis URL"):
        find(REDIS, None, allow_embedded=False, started=[], env={"CLOCKBENCH_REDIS_URL": "localhost:6379"})
    with pytest.raises(BadServiceURL, match="--postgres-url"):
        find(POSTGRES, "mysql://h/db", allow_embedded=False, started=[], env={})


def test_find_probes_explicit_url_and_reports_its_version() -> None:
    probed: list[str] = []

    def probe(url: str) -> str:
        probed.append(url)
        return "16.2"

    found = find(POSTGRES, "postgresql://u@db:1/x", allow_embedded=True, started=[], env={}, probe=probe)
    assert (found.how, found.version, found.source, probed) == ("explicit", "16.2", "--postgres-url", ["postgresql://u@db:1/x"])


def test_redact_hides_passwords_only() -> None:
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact(None) is None


def test_quick_finders_keep_their_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py relies on these: explicit URLs are returned as given, Found has name/url/how/reason/ok."""
    monkeypatch.delenv("CLOCKBENCH_POSTGRES_URL", raising=False)
    found = find_postgres("postgresql://u@elsewhere:1/x")
    assert isinstance(found, Found) and found.ok
    assert (found.name, found.url, found.how, found.reason) == ("postgres", "postgresql://u@elsewhere:1/x", "explicit", "")
    monkeypatch.setenv("CLOCKBENCH_REDIS_URL", "redis://elsewhere:1/0")
    assert find_redis().url == "redis://elsewhere:1/0"


def test_quick_finder_reports_missing_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOCKBENCH_REDIS_URL", raising=False)
    monkeypatch.setattr("harness.backends.discovery.port_open", lambda host, port, timeout_s=0.5: False)
    found = find_redis()
    assert not found.ok and found.how == "missing"
    assert "CLOCKBENCH_REDIS_URL" in found.reason and "127.0.0.1:6379" in found.reason

"""`tooldeck memory list | show NAME | clear NAME`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from tooldeck.cli import main
from tooldeck.memory.store import MemoryStore
from tooldeck.redact import remember_secrets


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tooldeck.yaml"
    path.write_text(f"data_dir: {json.dumps(str(tmp_path / 'data'))}\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    store = MemoryStore(tmp_path / "data")
    store.add_messages("alpha", [HumanMessage("what is 2+2?", id="1"), AIMessage("4", id="2")])
    store.add_messages("beta", [HumanMessage("hello", id="1")])
    return store


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_session(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "memory", "list", "--config", str(config_file))
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[:3] for line in lines] == [["beta", "1", "messages"],
                                                     ["alpha", "2", "messages"]]
    code, out, _ = _run(capsys, "memory", "list", "--json", "--config", str(config_file))
    assert {row["name"]: row["messages"] for row in json.loads(out)} == {"alpha": 2, "beta": 1}


def test_list_with_no_sessions_says_how_to_start_one(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "memory", "list", "--config", str(config_file))
    assert code == 0 and "no sessions yet" in out and "--session" in out


def test_show_prints_role_and_content(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "memory", "show", "alpha", "--config", str(config_file))
    assert code == 0
    assert out.splitlines() == ["human: what is 2+2?", "ai: 4"]
    code, out, _ = _run(capsys, "memory", "show", "alpha", "--json", "--config", str(config_file))
    data = json.loads(out)
    assert data["session"] == "alpha"
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("human", "what is 2+2?"), ("ai", "4")
    ]


def test_show_prints_the_summary_first(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert store.set_summary("alpha", "The user asked for a sum.", 1)
    code, out, _ = _run(capsys, "memory", "show", "alpha", "--config", str(config_file))
    assert code == 0
    assert out.splitlines()[0] == "summary: The user asked for a sum."
    code, out, _ = _run(capsys, "memory", "show", "alpha", "--json", "--config", str(config_file))
    assert json.loads(out)["summary"] == "The user asked for a sum."


def test_show_never_prints_a_secret(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sk-memtest-0123456789abcdef"  # noqa: S105 - a made-up key
    remember_secrets([secret])
    store.add_messages("gamma", [HumanMessage(f"my key is {secret}", id="1")])
    for flags in ([], ["--json"]):
        code, out, _ = _run(capsys, "memory", "show", "gamma", *flags, "--config",
                            str(config_file))
        assert code == 0 and secret not in out and "***" in out


def test_clear_forgets_one_session(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "memory", "clear", "alpha", "--config", str(config_file))
    assert code == 0 and "alpha" in out
    assert [s.name for s in store.list_sessions()] == ["beta"]
    assert store.get_messages("alpha") == []


@pytest.mark.parametrize("action", ["clear", "show"])
def test_an_unknown_session_is_named_exit_2(
    store: MemoryStore, config_file: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    code, out, err = _run(capsys, "memory", action, "nope", "--config", str(config_file))
    assert code == 2 and out == ""
    assert "no session named 'nope'" in err and "memory list" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "rule"), [("a/b", "'/'"), ("../etc", "'/'"), ("..", "'..'"), ("a\x00b", "NUL")]
)
def test_a_bad_session_name_is_refused_naming_the_rule(
    config_file: Path, capsys: pytest.CaptureFixture[str], name: str, rule: str
) -> None:
    for action in ("show", "clear"):
        code, _, err = _run(capsys, "memory", action, name, "--config", str(config_file))
        assert code == 2 and "session name must not contain" in err and rule in err
        assert "Traceback" not in err
    assert not (config_file.parent / "data" / "memory.sqlite").exists()


def test_a_database_that_is_not_sqlite_is_moved_aside(
    config_file: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    data = config_file.parent / "data"
    data.mkdir()
    (data / "memory.sqlite").write_text("not a database\n" * 100, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tooldeck.memory.store"):
        code, out, _ = _run(capsys, "memory", "list", "--config", str(config_file))
    assert code == 0 and "no sessions yet" in out
    assert "corrupted" in caplog.text
    assert len(list(data.glob("memory.sqlite.corrupt-*"))) == 1

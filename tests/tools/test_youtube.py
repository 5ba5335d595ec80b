"""The youtube tool: argument parsing, results-page parsing, a loopback search, transcripts."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import youtube_transcript_api as yta
from langchain_core.tools import ToolException

from tests.helpers import step_accepted
from tooldeck.config import Config, WebConfig
from tooldeck.testing import ToolStandardTests
from tooldeck.tools.builtin.youtube import (
    YoutubeTool,
    YoutubeTranscriptInput,
    parse_request,
    parse_results,
    register_into,
    video_id,
)
from tooldeck.tools.net import NetPolicy, Retries, allow_addresses_for_tests
from tooldeck.tools.net.testing import Handler, LoopbackServer, SeenRequest, reply
from tooldeck.tools.runner import arun_tool, run_tool

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "web" / "youtube"
FAST = NetPolicy(retries=Retries(attempts=2, backoff_s=0.01, max_delay_s=0.05))
HTML = {"Content-Type": "text/html; charset=utf-8"}
VIDEO = "dQw4w9WgXcQ"


def page(name: str) -> Handler:
    body = (FIXTURES / name).read_bytes()
    return lambda request, conn: reply(conn, 200, body, HTML)


@contextmanager
def serving(handler: Handler) -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as server, allow_addresses_for_tests({"127.0.0.1"}):
        yield server


def make_tool(server: LoopbackServer | None = None, **web: Any) -> YoutubeTool:
    config = Config(web=WebConfig(**{"timeout_s": 2.0, **web}))
    tool = YoutubeTool(config=config, policy=FAST)
    if server is not None:
        tool.search_url = server.url + "/results"
    if config.web.youtube_transcripts:
        tool.args_schema = YoutubeTranscriptInput
    return tool


class TestYoutubeStandard(ToolStandardTests):
    valid_input = {"query": "lofi, 2"}

    @pytest.fixture(autouse=True)
    def _served(self) -> Iterator[None]:
        with serving(page("results.html")) as server:
            self.tool = make_tool(server)
            yield


# --- arguments ---


@pytest.mark.parametrize(
    ("query", "max_results", "transcript_of", "expected"),
    [
        ("lofi music", None, None, ("lofi music", 5, None)),
        ("lofi music, 3", None, None, ("lofi music", 3, None)),
        ("lofi music ; 3", None, None, ("lofi music", 3, None)),
        ("lofi music, 3", 2, None, ("lofi music", 2, None)),
        ("lofi music", 7, None, ("lofi music", 7, None)),
        ("songs, 99", None, None, ("songs", 20, None)),
        ('"lofi music"', None, None, ("lofi music", 5, None)),
        ("paris, texas", None, None, ("paris, texas", 5, None)),
        ("  lofi \n music  ", None, None, ("lofi music", 5, None)),
        (f"transcript_of: {VIDEO}", None, None, ("", 0, VIDEO)),
        (f"transcript of https://youtu.be/{VIDEO}", None, None, ("", 0, f"https://youtu.be/{VIDEO}")),
        ("transcript of cats", None, None, ("transcript of cats", 5, None)),
        ("", None, VIDEO, ("", 5, VIDEO)),
    ],
)
def test_parse_request(
    query: str, max_results: int | None, transcript_of: str | None, expected: tuple[Any, ...]
) -> None:
    assert parse_request(query, max_results, transcript_of, 5) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VIDEO, VIDEO),
        (f"https://www.youtube.com/watch?v={VIDEO}&t=42s", VIDEO),
        (f"youtube.com/watch?v={VIDEO}", VIDEO),
        (f"https://m.youtube.com/watch?feature=share&v={VIDEO}", VIDEO),
        (f"https://youtu.be/{VIDEO}?si=abc", VIDEO),
        (f"https://www.youtube.com/shorts/{VIDEO}", VIDEO),
        (f"https://www.youtube-nocookie.com/embed/{VIDEO}", VIDEO),
        (f"<https://www.youtube.com/live/{VIDEO}>", VIDEO),
        (f"https://youtube.com.evil.example/watch?v={VIDEO}", None),
        (f"https://example.com/watch?v={VIDEO}", None),
        (f"{VIDEO}&x", None),
        ("https://www.youtube.com/watch?v=short", None),
        ("cats", None),
    ],
)
def test_video_id(value: str, expected: str | None) -> None:
    assert video_id(value) == expected


def test_transcript_schema_needs_a_query_or_a_video() -> None:
    tool = make_tool(youtube_transcripts=True)
    obs = run_tool(tool, {"query": None, "max_results": None, "transcript_of": None}, timeout_s=10)
    assert obs.error and "give a search query, or a video id or URL in transcript_of" in obs.text


def test_max_results_is_bounded() -> None:
    obs = run_tool(make_tool(), {"query": "lofi", "max_results": 500}, timeout_s=10)
    assert obs.error and "max_results" in obs.text


# --- the results page ---


def test_parse_results_reads_videos_in_order() -> None:
    videos = parse_results((FIXTURES / "results.html").read_text("utf-8"), 10)
    assert [v.id for v in videos] == ["jfKfPfyJRdk", "4xDzrJKXOOY", "lTRiuFIWV54", "n61ULEU7CO0"]
    live, synthwave = videos[0], videos[1]
    assert live.duration == "live" and live.channel == "Lofi Girl"
    assert live.views == "31,204 watching"
    assert synthwave.title == "synthwave radio \U0001f30c beats }; to chill/game to"
    assert synthwave.duration == "1:02:03" and synthwave.views == "1,234,567 views"
    assert synthwave.url == "https://www.youtube.com/watch?v=4xDzrJKXOOY"
    assert len(parse_results((FIXTURES / "results.html").read_text("utf-8"), 2)) == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("consent.html", "without search results data"),
        ("truncated.html", "not valid JSON"),
    ],
)
def test_unreadable_pages(name: str, expected: str) -> None:
    with pytest.raises(ToolException, match=expected):
        parse_results((FIXTURES / name).read_text("utf-8"), 5)


# --- search through the guarded client ---


def test_search_lists_title_channel_duration_url() -> None:
    with serving(page("results.html")) as server:
        out = make_tool(server).invoke({"query": "lofi, 2"})
    assert out.splitlines() == [
        "YouTube videos for 'lofi':",
        "1. lofi hip hop radio \U0001f4da beats to relax/study to | channel: Lofi Girl | "
        "duration: live | 31,204 watching | https://www.youtube.com/watch?v=jfKfPfyJRdk",
        "2. synthwave radio \U0001f30c beats }; to chill/game to | channel: Lofi Girl | "
        "duration: 1:02:03 | 1,234,567 views | https://www.youtube.com/watch?v=4xDzrJKXOOY",
    ]
    (request,) = server.requests
    params = parse_qs(urlsplit(request.path).query)
    assert params["search_query"] == ["lofi"] and params["sp"] == ["EgIQAQ=="]
    assert request.headers["user-agent"] == WebConfig().user_agent


def test_a_single_string_input_works() -> None:
    with serving(page("results.html")) as server:
        out = make_tool(server).invoke("coffee jazz, 1")
    assert out.count("https://www.youtube.com/watch?v=") == 1
    assert parse_qs(urlsplit(server.requests[0].path).query)["search_query"] == ["coffee jazz"]


def test_no_results() -> None:
    with serving(page("results_empty.html")) as server:
        out = make_tool(server).invoke({"query": "qqqqqqqq"})
    assert out == "YouTube found no videos for 'qqqqqqqq'. Try other words."


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, "YouTube is limiting requests (HTTP 429)"), (500, "server problem (HTTP 500)")],
)
def test_http_errors_are_observations(status: int, expected: str) -> None:
    with serving(lambda req, conn: reply(conn, status, b"")) as server:
        obs = run_tool(make_tool(server), {"query": "lofi"}, timeout_s=10)
    assert obs.error and expected in obs.text


def test_a_json_answer_is_refused_by_type() -> None:
    with serving(lambda req, conn: reply(conn, 200, b"{}", {"Content-Type": "application/json"})) \
            as server:
        obs = run_tool(make_tool(server), {"query": "lofi"}, timeout_s=10)
    assert obs.error and "YouTube answered with content tooldeck cannot read" in obs.text


def test_a_page_over_the_byte_cap() -> None:
    big = b"<html>" + b"x" * 5000 + b"</html>"
    with serving(lambda req, conn: reply(conn, 200, big, HTML)) as server:
        obs = run_tool(make_tool(server, max_bytes=1024), {"query": "lofi"}, timeout_s=10)
    assert obs.error and "larger than web.max_bytes (1024 bytes)" in obs.text


async def test_timeout_within_the_bound() -> None:
    box: list[LoopbackServer] = []

    def stall(request: SeenRequest, conn: socket.socket) -> None:
        box[0].stopping.wait(5)

    with serving(stall) as server:
        box.append(server)
        started = time.monotonic()
        obs = await arun_tool(make_tool(server, timeout_s=0.3), {"query": "lofi"}, timeout_s=10)
        elapsed = time.monotonic() - started
    assert obs.error and "YouTube did not answer within web.timeout_s (0.3 s)" in obs.text
    assert elapsed < 3


def test_blocked_address_without_the_test_allowance() -> None:
    with LoopbackServer(page("results.html")) as server:
        obs = run_tool(make_tool(server), {"query": "lofi"}, timeout_s=10)
    assert obs.error and "only fetches public http(s) addresses" in obs.text


# --- transcripts ---


def _fetched(texts: list[str], code: str = "en", generated: bool = True) -> yta.FetchedTranscript:
    snippets = [yta.FetchedTranscriptSnippet(text=t, start=i * 2.0, duration=2.0)
                for i, t in enumerate(texts)]
    return yta.FetchedTranscript(
        snippets=snippets, video_id=VIDEO, language="English", language_code=code,
        is_generated=generated,
    )


class _Transcript:
    def __init__(self, fetched: yta.FetchedTranscript) -> None:
        self.fetched = fetched

    def fetch(self) -> yta.FetchedTranscript:
        return self.fetched


class _Listing:
    def __init__(self, transcripts: list[_Transcript], english: bool = True) -> None:
        self.transcripts, self.english = transcripts, english

    def __iter__(self) -> Iterator[_Transcript]:
        return iter(self.transcripts)

    def find_transcript(self, codes: Any) -> _Transcript:
        if not self.english:
            raise yta.NoTranscriptFound(VIDEO, list(codes), "")
        return self.transcripts[0]


def _api(result: Any) -> Any:
    class FakeApi:
        calls: list[str] = []

        def list(self, video: str) -> Any:
            FakeApi.calls.append(video)
            if isinstance(result, BaseException):
                raise result
            if callable(result):
                return result()
            return result

    return FakeApi


def transcript_tool(result: Any, **web: Any) -> YoutubeTool:
    tool = make_tool(youtube_transcripts=True, **web)
    tool.transcript_api = _api(result)
    return tool


def test_transcript_of_a_url() -> None:
    tool = transcript_tool(_Listing([_Transcript(_fetched(["Never gonna", "give you up"]))]))
    out = tool.invoke({"query": None, "max_results": None,
                       "transcript_of": f"https://youtu.be/{VIDEO}"})
    assert out == (
        f"Transcript of https://www.youtube.com/watch?v={VIDEO} (en, auto-generated):\n"
        "Never gonna give you up"
    )
    assert tool.transcript_api.calls == [VIDEO]


def test_transcript_asked_in_a_single_string_and_bounded() -> None:
    words = [f"word{i}" for i in range(500)]
    tool = transcript_tool(_Listing([_Transcript(_fetched(words))]), max_chars=200)
    out = tool.invoke(f"transcript_of: {VIDEO}")
    body = out.splitlines()[1]
    assert body.endswith("... [transcript cut]") and len(body) <= 200 + 25


def test_transcript_in_another_language_when_no_english() -> None:
    listing = _Listing([_Transcript(_fetched(["Hallo Welt"], code="de", generated=False))],
                       english=False)
    out = transcript_tool(listing).invoke({"transcript_of": VIDEO})
    assert "(de, manual)" in out and out.endswith("Hallo Welt")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (yta.TranscriptsDisabled(VIDEO), "has subtitles turned off"),
        (yta.NoTranscriptFound(VIDEO, ["en"], ""), "has no transcript in any language"),
        (yta.VideoUnavailable(VIDEO), "is unavailable (removed, private, or a wrong id)"),
        (yta.RequestBlocked(VIDEO), "YouTube blocked transcript requests from this machine"),
        (yta.IpBlocked(VIDEO), "YouTube blocked transcript requests from this machine"),
        (yta.AgeRestricted(VIDEO), "is age-restricted"),
        (yta.YouTubeDataUnparsable(VIDEO), "could not read the transcript of"),
        (requests.ConnectTimeout("slow"), "YouTube did not answer in time"),
        (requests.ConnectionError("down"), "YouTube could not be reached (ConnectionError)"),
    ],
)
def test_transcript_errors_are_observations(error: Exception, expected: str) -> None:
    obs = run_tool(transcript_tool(error), {"transcript_of": VIDEO}, timeout_s=10)
    assert obs.error and obs.text.startswith("Error: youtube: ") and expected in obs.text


def test_transcript_of_something_that_is_not_a_video() -> None:
    obs = run_tool(transcript_tool(None), {"transcript_of": "https://example.com/x"}, timeout_s=10)
    assert obs.error and "is not a YouTube video id or URL" in obs.text


def test_transcripts_off_says_how_to_turn_them_on() -> None:
    obs = run_tool(make_tool(), f"transcript_of: {VIDEO}", timeout_s=10)
    assert obs.error and "set web.youtube_transcripts: true" in obs.text


def test_transcript_timeout() -> None:
    tool = transcript_tool(lambda: time.sleep(3), timeout_s=0.1)
    started = time.monotonic()
    obs = run_tool(tool, {"transcript_of": VIDEO}, timeout_s=10)
    assert obs.error and "did not send the transcript within 1.3 s" in obs.text
    assert time.monotonic() - started < 2.5


def test_transcript_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "youtube_transcript_api", None)
    obs = run_tool(transcript_tool(None), {"transcript_of": VIDEO}, timeout_s=10)
    assert obs.error and "pip install youtube-transcript-api" in obs.text


def test_the_real_client_gets_a_session_with_timeouts() -> None:
    from tooldeck.tools.builtin.youtube import _timed_session

    session = _timed_session(2.0)
    seen: dict[str, Any] = {}

    def fake_send(request: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise requests.ConnectTimeout("stop")

    session.send = fake_send  # type: ignore[method-assign]
    with pytest.raises(requests.ConnectTimeout):
        session.get("https://www.youtube.com/watch?v=" + VIDEO)
    assert seen["timeout"] == (2.0, 2.0)


# --- registration ---


@pytest.mark.parametrize("transcripts", [False, True])
def test_registered_schema_follows_the_transcript_setting(transcripts: bool) -> None:
    tools: list[Any] = []
    config = Config(web=WebConfig(youtube_transcripts=transcripts))
    register_into(lambda tool, **_: tools.append(tool), config)
    (tool,) = tools
    assert ("transcript_of" in tool.args) is transcripts
    assert ("transcript_of" in tool.description) is transcripts
    assert tool.metadata["examples"][0]["input"] == {"query": "python tutorial for beginners, 3"}


def test_the_react_grammar_can_express_the_arguments() -> None:
    off, on = [make_tool()], [make_tool(youtube_transcripts=True)]
    assert step_accepted(off, "youtube", '{"query": "lofi"}')
    assert step_accepted(off, "youtube", '{"query": "lofi", "max_results": 3}')
    assert not step_accepted(off, "youtube", '{"query": "lofi", "max_results": 50}')
    assert not step_accepted(off, "youtube", '{"transcript_of": "dQw4w9WgXcQ"}')
    assert step_accepted(on, "youtube", '{"transcript_of": "dQw4w9WgXcQ"}')

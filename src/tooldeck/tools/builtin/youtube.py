"""``youtube``: find videos on YouTube, and (when enabled) read one video's transcript.

Search goes through the guarded client (``tools.net``: SSRF guard, byte cap, timeouts): the
results page ``www.youtube.com/results`` is fetched and the ``ytInitialData`` JSON inside it
is parsed, reading the same ``videoRenderer`` fields ``youtube-search`` reads (id, title,
channel, duration, views). That package is not called because it uses ``requests`` outside
the guard.

Input is forgiving: ``"lofi music"``, ``"lofi music, 5"`` (a count after a comma) or the
structured ``query`` + ``max_results``. With ``web.youtube_transcripts: true`` the tool also
takes ``transcript_of`` (a video id or URL; the single string ``"transcript_of: ID"`` works
too). Transcripts come from ``youtube-transcript-api``, which talks to youtube.com through its
own ``requests`` session: the video id is checked first (11 characters of ``[A-Za-z0-9_-]``,
so only YouTube is reached), the session has per-request timeouts, and the whole fetch runs
on a daemon thread with a deadline. Every failure (disabled or missing transcripts, a blocked
IP, a timeout, a changed page) becomes an observation saying what to do.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel

from tooldeck.plugins import Register
from tooldeck.tools.builtin.arguments import YoutubeInput, YoutubeTranscriptInput
from tooldeck.tools.builtin.declarations import (
    MAX_RESULTS,
    YOUTUBE_DESCRIPTION,
    YOUTUBE_TRANSCRIPT_NOTE,
)
from tooldeck.tools.builtin.web_common import (
    MAX_CONNECT_S,
    Service,
    bound_s,
    call_bounded,
    network_advice,
    run_bounded,
    web_request,
    web_settings,
)

if TYPE_CHECKING:
    from tooldeck.config import Config
    from tooldeck.config_schema import WebConfig

__all__ = [
    "MAX_RESULTS",
    "Video",
    "YoutubeInput",
    "YoutubeTool",
    "YoutubeTranscriptInput",
    "parse_request",
    "parse_results",
    "register_into",
    "video_id",
    "youtube_tool",
]

WATCH_URL = "https://www.youtube.com/watch?v={id}"
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_COUNT = re.compile(r"^(?P<query>.+?)\s*[,;]\s*(?P<count>\d{1,3})$")
_TRANSCRIPT = re.compile(r"^transcript(?:[ _]of)?\s*[:=]?\s*(?P<video>\S+)$", re.IGNORECASE)
_YOUTUBE_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")
_PATH_PREFIXES = ("/shorts/", "/embed/", "/live/", "/v/")
_MAX_NODES = 200_000
_TRANSCRIPT_LANGUAGES = ("en", "en-US", "en-GB")
_REQUESTS = 3  # the most one call makes: a transcript reads the watch page, player, captions
_SERVICE = Service("YouTube")


@dataclass(frozen=True)
class Video:
    """One search result.

    Attributes:
        id: The 11-character video id.
        title: The title.
        channel: The channel name.
        duration: Such as ``"12:34"``; ``"live"`` for a live stream.
        views: Such as ``"1,234 views"`` (may be empty).
    """

    id: str
    title: str
    channel: str
    duration: str
    views: str

    @property
    def url(self) -> str:
        """The watch URL."""
        return WATCH_URL.format(id=self.id)


def video_id(value: str) -> str | None:
    """The video id in a bare id or a YouTube URL (watch, youtu.be, shorts, embed, live).

    Args:
        value: What the model passed.

    Returns:
        The 11-character id, or ``None`` when ``value`` is neither.
    """
    value = value.strip().strip("\"'<>")
    if _VIDEO_ID.fullmatch(value):
        return value
    parsed = urllib.parse.urlsplit(value if "//" in value else "https://" + value)
    host = (parsed.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    if not any(host == h or host.endswith("." + h) for h in _YOUTUBE_HOSTS):
        return None
    candidates = urllib.parse.parse_qs(parsed.query).get("v", [])
    if host == "youtu.be":
        candidates.append(parsed.path.strip("/"))
    for prefix in _PATH_PREFIXES:
        if parsed.path.startswith(prefix):
            candidates.append(parsed.path[len(prefix) :].split("/")[0])
    return next((c for c in candidates if _VIDEO_ID.fullmatch(c)), None)


def parse_request(
    query: str, max_results: int | None, transcript_of: str | None, default_count: int
) -> tuple[str, int, str | None]:
    """Read ``"query"``, ``"query, N"`` or ``"transcript_of: ID"`` into their parts.

    Args:
        query: The query string as given (may carry a count or a transcript request).
        max_results: The structured count, which wins over one in the string.
        transcript_of: The structured transcript target, if any.
        default_count: The count when none is given.

    Returns:
        The query, the number of results (1 to :data:`MAX_RESULTS`), the transcript target.
    """
    text = " ".join(query.split())
    asked = _TRANSCRIPT.match(text)
    if transcript_of is None and asked and video_id(asked["video"]):
        return "", 0, asked["video"]
    count = max_results
    with_count = _COUNT.match(text)
    if with_count:
        text = with_count["query"]
        count = count if count is not None else int(with_count["count"])
    count = min(max(count or default_count, 1), MAX_RESULTS)
    return text.strip().strip("\"'"), count, (transcript_of or "").strip() or None


def parse_results(page: str, limit: int) -> list[Video]:
    """The videos of a YouTube results page, in order, from its ``ytInitialData`` JSON.

    Args:
        page: The HTML.
        limit: Most videos returned.

    Returns:
        The videos (ads, shorts shelves and channels skipped).

    Raises:
        ToolException: The page has no readable ``ytInitialData``.
    """
    start = page.find("ytInitialData")
    brace = page.find("{", start) if start >= 0 else -1
    if brace < 0 or brace - start > 40:
        msg = (
            "YouTube sent a page without search results data (it may be asking for consent "
            "or have changed its page); try again later or use another tool"
        )
        raise ToolException(msg)
    try:
        data, _ = json.JSONDecoder().raw_decode(page, brace)
    except ValueError:
        msg = "YouTube's search results data is not valid JSON; try again later"
        raise ToolException(msg) from None
    videos = (_video(renderer) for renderer in _renderers(data))
    return [video for video in videos if video is not None][:limit]


def _renderers(data: Any) -> list[dict[str, Any]]:
    """Every ``videoRenderer`` object in document order (a bounded walk)."""
    found: list[dict[str, Any]] = []
    stack: list[Any] = [data]
    seen = 0
    while stack and seen < _MAX_NODES:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            renderer = node.get("videoRenderer")
            if isinstance(renderer, dict):
                found.append(renderer)
                continue
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def _text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    if isinstance(node.get("simpleText"), str):
        return str(node["simpleText"]).strip()
    runs = node.get("runs")
    if isinstance(runs, list):
        return "".join(str(r.get("text", "")) for r in runs if isinstance(r, dict)).strip()
    return ""


def _video(renderer: dict[str, Any]) -> Video | None:
    vid = renderer.get("videoId")
    if not isinstance(vid, str) or not _VIDEO_ID.fullmatch(vid):
        return None
    live = any("LIVE" in json.dumps(badge) for badge in renderer.get("badges", []) or [])
    return Video(
        id=vid,
        title=_text(renderer.get("title"))[:200] or "(untitled)",
        channel=(_text(renderer.get("ownerText")) or _text(renderer.get("longBylineText")))[:100]
        or "unknown channel",
        duration=_text(renderer.get("lengthText")) or ("live" if live else "unknown length"),
        views=_text(renderer.get("viewCountText")) or _text(renderer.get("shortViewCountText")),
    )


def _listing(query: str, videos: list[Video]) -> str:
    if not videos:
        return f"YouTube found no videos for {query!r}. Try other words."
    lines = [f"YouTube videos for {query!r}:"]
    for n, video in enumerate(videos, start=1):
        views = f" | {video.views}" if video.views else ""
        lines.append(
            f"{n}. {video.title} | channel: {video.channel} | duration: {video.duration}"
            f"{views} | {video.url}"
        )
    return "\n".join(lines)


class YoutubeTool(BaseTool):
    """Search YouTube; read a video's transcript when transcripts are enabled."""

    name: str = "youtube"
    description: str = YOUTUBE_DESCRIPTION
    args_schema: type[BaseModel] = YoutubeInput
    config: Any = None
    search_url: str = "https://www.youtube.com/results"
    policy: Any = None
    transcript_api: Any = None  # () -> an object like YouTubeTranscriptApi (tests)

    def _run(
        self,
        query: str | None = None,
        max_results: int | None = None,
        transcript_of: str | None = None,
        **_: Any,
    ) -> str:
        web = web_settings(self.config)
        text, count, target = parse_request(query or "", max_results, transcript_of,
                                            web.search_results)
        if target is not None:
            return self._transcript(target, web)
        if not text:
            msg = "give a search query, such as 'python tutorial'"
            raise ToolException(msg)
        return _listing(text, self._search(text, count, web))

    async def _arun(
        self,
        query: str | None = None,
        max_results: int | None = None,
        transcript_of: str | None = None,
        **_: Any,
    ) -> str:
        bound = bound_s(web_settings(self.config), _REQUESTS)
        return await run_bounded(
            lambda: self._run(query, max_results, transcript_of), bound, self.name
        )

    def _search(self, query: str, count: int, web: WebConfig) -> list[Video]:
        from tooldeck.errors import NetworkError

        try:
            response = web_request(
                self.search_url,
                web,
                policy=self.policy,
                params={"search_query": query, "hl": "en", "sp": "EgIQAQ=="},  # videos only
                headers={
                    "Accept": "text/html",
                    "Accept-Language": "en-US,en;q=0.8",
                    "Cookie": "SOCS=CAI",  # the consent page's "reject all" answer
                },
                allowed_types=("text/html",),
            )
        except NetworkError as exc:
            raise ToolException(network_advice(exc, _SERVICE, web)) from None
        return parse_results(response.text(), count)

    def _transcript(self, target: str, web: WebConfig) -> str:
        if not web.youtube_transcripts:
            msg = "transcripts are turned off; set web.youtube_transcripts: true to read them"
            raise ToolException(msg)
        video = video_id(target)
        if video is None:
            msg = (
                f"{target[:80]!r} is not a YouTube video id or URL; pass an 11-character id "
                "such as dQw4w9WgXcQ or a youtube.com/watch?v=... URL"
            )
            raise ToolException(msg)
        seconds = bound_s(web, _REQUESTS)
        late = f"YouTube did not send the transcript within {seconds:g} s; try again later"
        return call_bounded(lambda: self._fetch_transcript(video, web), seconds, late)

    def _fetch_transcript(self, video: str, web: WebConfig) -> str:
        try:
            import youtube_transcript_api as yta
        except ImportError:
            msg = (
                "reading transcripts needs the youtube-transcript-api package; "
                "run: pip install youtube-transcript-api"
            )
            raise ToolException(msg) from None
        factory = self.transcript_api or (lambda: yta.YouTubeTranscriptApi(
            http_client=_timed_session(web.timeout_s)))
        try:
            listing = factory().list(video)
            try:
                chosen = listing.find_transcript(_TRANSCRIPT_LANGUAGES)
            except yta.NoTranscriptFound:
                chosen = next(iter(listing), None)
                if chosen is None:
                    raise
            fetched = chosen.fetch()
        except Exception as exc:
            raise _transcript_failure(video, exc) from None
        return _transcript_text(video, fetched, web.max_chars)


def _timed_session(timeout_s: float) -> Any:
    """A ``requests`` session whose every request has connect and read timeouts."""
    import requests

    class _TimedSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", (min(MAX_CONNECT_S, timeout_s), timeout_s))
            return super().request(*args, **kwargs)

    return _TimedSession()


def _transcript_failure(video: str, exc: Exception) -> ToolException:
    """What went wrong reading a transcript, worded for the model."""
    import requests
    import youtube_transcript_api as yta

    advice: str
    if isinstance(exc, yta.TranscriptsDisabled):
        advice = f"video {video} has subtitles turned off, so it has no transcript"
    elif isinstance(exc, yta.NoTranscriptFound):
        advice = f"video {video} has no transcript in any language"
    elif isinstance(exc, yta.VideoUnavailable | yta.InvalidVideoId):
        advice = f"video {video} is unavailable (removed, private, or a wrong id); check the id"
    elif isinstance(exc, yta.RequestBlocked):  # IpBlocked too
        advice = (
            "YouTube blocked transcript requests from this machine's IP address (common on "
            "cloud servers); transcripts cannot be read from here"
        )
    elif isinstance(exc, yta.AgeRestricted):
        advice = f"video {video} is age-restricted; its transcript needs a signed-in account"
    elif isinstance(exc, yta.CouldNotRetrieveTranscript):
        cause = str(getattr(exc, "cause", "") or type(exc).__name__).splitlines()[0][:200]
        advice = f"could not read the transcript of {video}: {cause}"
    elif isinstance(exc, requests.Timeout):
        advice = "YouTube did not answer in time; try again later"
    elif isinstance(exc, requests.RequestException | OSError):
        advice = f"YouTube could not be reached ({type(exc).__name__}); try again later"
    else:
        advice = f"reading the transcript of {video} failed ({type(exc).__name__}: {exc})"
    return ToolException(advice)


def _transcript_text(video: str, fetched: Any, max_chars: int) -> str:
    """The transcript as one paragraph, cut at ``max_chars`` with a note."""
    parts: list[str] = []
    size = 0
    for snippet in fetched:
        text = " ".join(str(getattr(snippet, "text", "")).split())
        if text:
            parts.append(text)
            size += len(text) + 1
        if size > max_chars:
            break
    body = " ".join(parts)
    cut = len(body) > max_chars
    body = body[:max_chars].rsplit(" ", 1)[0] + " ... [transcript cut]" if cut else body
    kind = "auto-generated" if getattr(fetched, "is_generated", False) else "manual"
    language = getattr(fetched, "language_code", "") or "unknown language"
    head = f"Transcript of {WATCH_URL.format(id=video)} ({language}, {kind}):"
    return f"{head}\n{body or '(the transcript is empty)'}"


YOUTUBE_EXAMPLES = [
    {
        "question": "Find a video that teaches Python for beginners.",
        "input": {"query": "python tutorial for beginners, 3"},
        "observation": (
            "YouTube videos for 'python tutorial for beginners':\n1. Python for Beginners | "
            "channel: Programming with Mosh | duration: 1:00:06 | "
            "https://www.youtube.com/watch?v=kqtD5dpn9C8"
        ),
        "answer": "Try 'Python for Beginners' by Programming with Mosh: "
        "https://www.youtube.com/watch?v=kqtD5dpn9C8",
    },
    {
        "question": "Is there a YouTube video showing how to fix a flat bike tyre?",
        "input": {"query": "fix a flat bike tyre, 3"},
        "observation": (
            "YouTube videos for 'fix a flat bike tyre':\n1. How to Fix a Puncture | "
            "channel: Park Tool | duration: 6:12 | https://www.youtube.com/watch?v=example01"
        ),
        "answer": "Yes: 'How to Fix a Puncture' by Park Tool, "
        "https://www.youtube.com/watch?v=example01",
    },
    {
        "question": "I'd like to watch a live concert of Daft Punk.",
        "input": {"query": "Daft Punk live concert"},
        "observation": (
            "YouTube videos for 'Daft Punk live concert':\n1. Daft Punk - Alive 2007 | "
            "channel: Daft Punk | duration: 1:14:05 | https://www.youtube.com/watch?v=example02"
        ),
        "answer": "Watch 'Daft Punk - Alive 2007': https://www.youtube.com/watch?v=example02",
    },
    {
        "question": "show me clips of penguins at the zoo",
        "input": {"query": "penguins zoo clips"},
        "observation": (
            "YouTube videos for 'penguins zoo clips':\n1. Penguin feeding time | channel: "
            "City Zoo | duration: 4:40 | https://www.youtube.com/watch?v=example03"
        ),
        "answer": "Here is one: 'Penguin feeding time', "
        "https://www.youtube.com/watch?v=example03",
    },
]


def youtube_tool(config: Config | None) -> YoutubeTool:
    """The ``youtube`` tool (with the transcript argument when enabled) and its examples."""
    tool = YoutubeTool(config=config)
    if web_settings(config).youtube_transcripts:
        tool.args_schema = YoutubeTranscriptInput
        tool.description += YOUTUBE_TRANSCRIPT_NOTE
    tool.metadata = {"examples": YOUTUBE_EXAMPLES}
    return tool


def register_into(register: Register, config: Config | None) -> None:
    """Register the ``youtube`` tool (with the transcript argument when enabled)."""
    register(youtube_tool(config))

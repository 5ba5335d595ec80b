"""The one exception tree of tooldeck.

Every error a user can cause has a class here, a message that names the problem and the fix,
and an exit code that ``cli.py`` maps it to::

    ToolDeckError (exit 1)
    ├── UsageError (exit 2)                 bad input from the user
    │   ├── ConfigError                     unknown key, wrong type, unknown name, unreadable file
    │   ├── InputError                      empty question, question over the size limit
    │   ├── PromptError                     unknown template, missing variable, malformed file
    │   └── UnknownToolError                a tool name that is not registered
    ├── PluginError                         duplicate tool names, a plugin that returns junk
    ├── ModelError                          the model layer
    │   ├── ModelNotFoundError (exit 2)     missing or truncated GGUF file, unknown catalogue name
    │   ├── MissingAPIKeyError (exit 2)     a provider needs a key that is not set
    │   ├── ContextOverflowError            the prompt does not fit the model's context window
    │   └── ModelOutputError                the model answered with something unusable
    ├── ToolExecutionError                  a tool raised (turned into an observation in the loop)
    │   ├── ToolTimeoutError                a tool ran past its timeout
    │   └── NetworkError                    tools/net: connection refused or reset, DNS, encoding
    │       ├── BlockedAddressError         the SSRF guard refused a scheme, userinfo, name, address
    │       ├── ResponseTooLargeError       the body passed its byte cap (on the wire or decoded)
    │       ├── NetworkTimeoutError         connect, read or total deadline passed
    │       ├── HTTPStatusError             a final status >= 400 (``status``, ``url``)
    │       ├── ContentTypeError            a content type outside the call's allowlist, bad JSON
    │       └── TooManyRedirectsError       more redirects than the policy allows
    ├── ServeError (exit 2)                 serve cannot start as set (public address, no token)
    │   └── PortInUseError (exit 3)         the port is taken by another program
    ├── MemoryStoreError                    the conversation store: busy past its retries, failed,
    │                                       or a schema newer than this tooldeck
    ├── DownloadError                       model pull: network, interrupted transfer
    │   └── HashMismatchError               the file does not have the catalogue's SHA-256
    └── RetrievalError                      the RAG index
        ├── IndexNotFoundError (exit 2)     an index name that was never built
        ├── EmptyIndexError (exit 2)        an index with no documents, or a run that found none
        ├── IndexBusyError                  another process is writing the index
        ├── IndexCorruptedError             unreadable index files (rebuild it)
        └── LoaderError                     one file that cannot be loaded (skipped, warned)
"""

from __future__ import annotations

__all__ = [
    "BlockedAddressError",
    "ConfigError",
    "ContextOverflowError",
    "ContentTypeError",
    "DownloadError",
    "EmptyIndexError",
    "HTTPStatusError",
    "HashMismatchError",
    "IndexBusyError",
    "IndexCorruptedError",
    "IndexNotFoundError",
    "InputError",
    "LoaderError",
    "MissingAPIKeyError",
    "ModelError",
    "ModelNotFoundError",
    "MemoryStoreError",
    "ModelOutputError",
    "NetworkError",
    "NetworkTimeoutError",
    "PromptError",
    "PluginError",
    "PortInUseError",
    "ResponseTooLargeError",
    "RetrievalError",
    "ServeError",
    "TooManyRedirectsError",
    "ToolDeckError",
    "ToolExecutionError",
    "ToolTimeoutError",
    "UnknownToolError",
    "UsageError",
]


class ToolDeckError(Exception):
    """Base of every error tooldeck raises on purpose."""

    exit_code: int = 1


class UsageError(ToolDeckError):
    """The user asked for something that cannot work as given."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration (file, env var or flag) is invalid."""


class PromptError(UsageError):
    """A prompt template: unknown name, a missing or misspelt variable, a malformed file."""


class InputError(UsageError):
    """The question or tool input is unusable (empty, too large, malformed)."""


class UnknownToolError(UsageError):
    """A tool name that no plugin registered."""


class PluginError(ToolDeckError):
    """A plugin broke a registry rule (duplicate names, bad objects)."""


class ModelError(ToolDeckError):
    """The model layer failed."""


class ModelNotFoundError(ModelError):
    """The model file or catalogue entry does not exist or is damaged."""

    exit_code = 2


class MissingAPIKeyError(ModelError):
    """A provider needs an API key that is not set."""

    exit_code = 2


class ContextOverflowError(ModelError):
    """The prompt (question, history, observations) does not fit the model's context window."""


class ModelOutputError(ModelError):
    """The model produced output that cannot be used."""


class ToolExecutionError(ToolDeckError):
    """A tool raised while running."""


class ToolTimeoutError(ToolExecutionError):
    """A tool did not finish within its timeout."""


class ServeError(ToolDeckError):
    """The server cannot start as configured (for example a public address with no token)."""

    exit_code = 2


class PortInUseError(ServeError):
    """The port ``tooldeck serve`` should listen on is taken."""

    exit_code = 3


class NetworkError(ToolExecutionError):
    """A network call failed (connection refused or reset, DNS failure, undecodable body)."""


class BlockedAddressError(NetworkError):
    """The SSRF guard refused a URL: its scheme, userinfo, host name or a resolved address."""


class ResponseTooLargeError(NetworkError):
    """The response body passed the call's byte cap (counted on the wire and decoded)."""


class NetworkTimeoutError(NetworkError):
    """A connect, read or total (wall-clock) deadline passed."""


class HTTPStatusError(NetworkError):
    """The server answered with a status >= 400 (after any retries).

    Attributes:
        status: The HTTP status code of the last response.
        url: The URL that answered it.
    """

    def __init__(self, message: str, *, status: int = 0, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ContentTypeError(NetworkError):
    """The response is of a content type the call did not allow, or is not valid JSON."""


class TooManyRedirectsError(NetworkError):
    """The server redirected more times than the policy allows."""


class MemoryStoreError(ToolDeckError):
    """The conversation store failed (busy past its retries, a database error, a newer schema)."""


class DownloadError(ToolDeckError):
    """A model download failed."""


class HashMismatchError(DownloadError):
    """A downloaded file does not match its expected SHA-256."""


class RetrievalError(ToolDeckError):
    """The RAG index failed."""


class IndexNotFoundError(RetrievalError):
    """No index of that name exists."""

    exit_code = 2


class EmptyIndexError(RetrievalError):
    """The index exists but holds no documents."""

    exit_code = 2


class IndexBusyError(RetrievalError):
    """Another process holds the index's write lock."""


class IndexCorruptedError(RetrievalError):
    """The index files cannot be read; the message says how to rebuild."""


class LoaderError(RetrievalError):
    """A file cannot be loaded (the loader skips it with a warning naming the reason)."""

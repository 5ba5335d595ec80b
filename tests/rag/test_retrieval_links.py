"""Identifier words, whole-document chunks and function-operation links."""

from __future__ import annotations

from pathlib import Path

from tooldeck.config import IndexConfig
from tooldeck.rag.identifiers import identifier_words
from tooldeck.rag.links import link_chunks
from tooldeck.rag.loaders import load_file
from tooldeck.rag.splitters import split_documents

API = Path(__file__).resolve().parent.parent / "fixtures" / "api"


def test_identifier_words() -> None:
    assert identifier_words("getMovieCredits") == "get movie credits"
    assert identifier_words("/person/{person_id}/movie_credits") == "person id movie credits"
    assert identifier_words("ComputeSession.create", "HTTPServer") == \
        "compute session create http server"
    assert identifier_words("YituTech/conv-bert-base") == "yitu tech conv bert base"
    assert identifier_words("") == ""


def _chunks(config: IndexConfig | None = None) -> list[list]:  # type: ignore[type-arg]
    files = [API / "openapi.json", API / "client.py"]
    return [split_documents(load_file(f), config or IndexConfig()) for f in files]


def test_operations_and_functions_stay_whole_with_their_words() -> None:
    small = IndexConfig(splitter="fixed", chunk_size=50, chunk_overlap=0)
    spec, client = _chunks(small)
    assert len(spec) == 4 and len(client) == 4  # one chunk each, whatever the chunk size
    create = next(c for c in spec if c.metadata["ref"] == "POST /session")
    assert "words: post session create" in create.text
    assert "Responses:" in create.context and "Responses:" not in create.text
    assert "words:" not in create.context


def test_function_linked_to_the_operation_it_calls() -> None:
    spec, client = link_chunks(_chunks())
    by_ref = {c.metadata["ref"]: c for c in [*spec, *client]}
    assert by_ref["ComputeSession.create"].metadata["operations"] == "POST /session"
    assert by_ref["ComputeSession.terminate"].metadata["operations"] == \
        "DELETE /session/{session_id}"
    assert by_ref["POST /session"].metadata["functions"] == "ComputeSession.create"
    assert by_ref["DELETE /session/{session_id}"].metadata["functions"] == \
        "ComputeSession.terminate"
    assert "client: ComputeSession.terminate (Stop the session" in \
        by_ref["DELETE /session/{session_id}"].text
    assert "calls: DELETE /session/{session_id} (Terminate a session)" in \
        by_ref["ComputeSession.terminate"].text
    # no request in its body, no link; an operation no function calls, no link
    assert "operations" not in by_ref["download_invoices"].metadata
    assert "functions" not in by_ref["GET /session"].metadata
    # a new text is a new chunk id (so the vector is recomputed); what is shown is unchanged
    plain = {c.metadata["ref"]: c for c in _chunks()[0]}
    assert by_ref["POST /session"].id != plain["POST /session"].id
    assert by_ref["POST /session"].context == plain["POST /session"].context


def test_links_to_operations_already_indexed_and_prefixed_paths() -> None:
    spec, client = _chunks()
    stored = [c.metadata for c in spec]
    (linked,) = link_chunks([client], stored)
    by_ref = {c.metadata["ref"]: c for c in linked}
    assert by_ref["ComputeSession.create"].metadata["operations"] == "POST /session"
    from tooldeck.rag.pysource import python_documents

    code = ('def close(api, sid):\n    """Close it."""\n'
            '    return api.request("DELETE", f"https://x.io/api/v1/session/{sid}")\n')
    docs = split_documents(python_documents(code, "c.py"), IndexConfig())
    assert docs[0].metadata["paths_called"] == "DELETE /api/v1/session/{}"
    (out,) = link_chunks([docs], stored)
    assert out[0].metadata["operations"] == "DELETE /session/{session_id}"


def test_a_long_record_is_one_chunk_searched_by_its_head(tmp_path: Path) -> None:
    import json

    record = {"id": "Weather::forecast", "api_description": "Daily forecast for a city.",
              "required_parameters": [{"name": f"p{i}", "description": "x" * 60}
                                      for i in range(40)]}
    file = tmp_path / "apis.jsonl"
    file.write_text(json.dumps(record) + "\n")
    (chunk,) = split_documents(load_file(file), IndexConfig())
    assert len(chunk.context) > 1000 and len(chunk.text) <= 1000
    assert chunk.text.startswith("id: Weather::forecast") and chunk.context.endswith("]")
    (whole,) = split_documents(load_file(file), IndexConfig(splitter="none"))
    assert whole.text == whole.context

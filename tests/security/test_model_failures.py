"""A provider error that echoes a configured key never carries it into a ModelError."""

from __future__ import annotations

import pytest

from tooldeck.errors import ContextOverflowError, ModelError
from tooldeck.models.failures import model_failures
from tooldeck.redact import remember_secrets


def test_provider_error_text_is_scrubbed() -> None:
    key = "sk-test-failures-0123456789abcdef"
    remember_secrets([key])
    with pytest.raises(ModelError) as info, model_failures():
        raise RuntimeError(f"401 Unauthorized: invalid api key {key}")
    assert key not in str(info.value)
    assert "401 Unauthorized" in str(info.value)


def test_a_provider_context_overflow_is_typed() -> None:
    with pytest.raises(ContextOverflowError), model_failures():
        raise RuntimeError("Error code: 400 - {'error': {'code': 'context_length_exceeded'}}")

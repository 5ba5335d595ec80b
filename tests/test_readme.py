"""The README's two set-up commands stay true: CI runs the second one exactly."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_commands_match_ci() -> None:
    lines = (REPO / "README.md").read_text("utf-8").splitlines()
    run_cmd, test_cmd = lines[0].strip(), lines[1].strip()
    assert run_cmd.startswith("./install.sh && ") and "tooldeck run" in run_cmd
    ci = (REPO / ".ci" / "run").read_text("utf-8").strip().splitlines()
    assert ci[-1].strip() == test_cmd
    assert "bash install.sh" in ci


def test_every_config_key_is_documented() -> None:
    from tooldeck.config import (
        AgentConfig,
        Config,
        EmbeddingsConfig,
        IndexConfig,
        ModelConfig,
        RagConfig,
        ServerConfig,
        WebConfig,
    )

    text = (REPO / "config.yaml").read_text("utf-8")
    for model in (Config, AgentConfig, ModelConfig, EmbeddingsConfig, RagConfig, IndexConfig,
                  ServerConfig, WebConfig):
        for key in model.model_fields:
            assert f"{key}:" in text, f"config.yaml does not document {key}"

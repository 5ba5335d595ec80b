"""Questions that need no tool: the "no tool" class of tool preselection's nearest neighbours.

Generic chit-chat, writing and everyday-knowledge requests a chat model answers alone. Tool
preselection (:mod:`tooldeck.tools.select`) compares a question with these as it does with the
tools' worked-example questions: a question nearer to these than to any tool's texts is offered
no tool. Written as a general sample of such requests, not from any benchmark's questions.
"""

from __future__ import annotations

__all__ = ["NO_TOOL_QUESTIONS"]

NO_TOOL_QUESTIONS: tuple[str, ...] = (
    "Good morning!",
    "How are you today?",
    "Thanks, that was really helpful.",
    "Who are you and what can you do?",
    "Write a short poem about autumn leaves.",
    "Write a haiku about the sea.",
    "Suggest a name for my new puppy.",
    "Give me an idea for a birthday present for my sister.",
    "Give me some tips for sleeping better.",
    "Rephrase this more politely: send me the file now.",
    "How do I start a polite email to a professor?",
    "Explain what a noun is.",
    "What does the word 'benevolent' mean?",
    "How do you spell 'necessary'?",
    "Why is the sky blue?",
    "What do bees make?",
    "What are the three primary colours?",
    "What colour do you get by mixing blue and yellow?",
    "Which is bigger, an elephant or a mouse?",
    "What sound does a cow make?",
    "Is it rude to arrive late to a meeting?",
    "What is the difference between weather and climate?",
    "Can you explain how a rainbow forms?",
    "What should I cook for dinner tonight?",
    "Which planet is closest to the sun?",
    "What language do people speak in Brazil?",
    "What gas do plants take in from the air?",
    "Summarize the plot of Romeo and Juliet in your own words.",
    "Give me three synonyms for 'fast'.",
)

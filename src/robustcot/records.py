"""The record: one row per sample × variant × abstain flag, and its Arrow schema.

Every number in a report traces back to a row here: the rendered prompt, the prefill, the raw
response, the parse status and the judge label are kept next to the metrics derived from them.
"""

from __future__ import annotations

import pyarrow as pa

from robustcot.data.grouped import EXTRA_RECORD_FIELDS

#: Column name → (Arrow type, description). The description is the documented schema
#: (``docs/records.md`` is generated from it by ``robustcot schema``).
FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "key": (pa.string(), "Unique row key `sample_id|variant|abstain`; resume and merge deduplicate on it."),
    "sample_id": (pa.string(), "Sample id from the benchmark adapter."),
    "benchmark": (pa.string(), "Benchmark name."),
    "task": (pa.string(), "`mcq` (options, letter metrics) or `open` (free-text answer scored by normalised match; option, index and letter columns null)."),
    "category": (pa.string(), "Question family / category from the sample metadata, if any."),
    "variant": (pa.string(), "Perturbation variant (`base`, `stop_think`, `wrong_think`, ...)."),
    "abstain": (pa.bool_(), "True when an extra \"I'm not sure\" option was appended."),
    "n_options": (pa.int32(), "Number of options shown, including the abstain option."),
    "gold_index": (pa.int32(), "0-based index of the correct option."),
    "wrong_index": (pa.int32(), "0-based index of the sample's seeded wrong option (shared by all wrong variants)."),
    "injected_index": (pa.int32(), "Option the injected text asserts (wrong or gold); null for `base`/`stop_think`."),
    "abstain_index": (pa.int32(), "Index of the \"I'm not sure\" option; null when abstain is off."),
    "gold_answer": (pa.string(), "Open-ended rows: the reference answer; null for multiple choice (see `gold_index`)."),
    "wrong_answer": (pa.string(), "Open-ended rows: the sample's seeded wrong answer (another sample's answer, shared by all wrong variants)."),
    "injected_answer": (pa.string(), "Open-ended rows: the answer the injected text asserts; null for `base`/`stop_think`."),
    "question": (pa.string(), "The sample's question before perturbation (no caption); what LLM judges see."),
    "options": (pa.list_(pa.string()), "Option texts as shown, in letter order (abstain option included)."),
    "prompt": (pa.string(), "The fully rendered prompt text sent to the model (chat template applied)."),
    "prefill": (pa.string(), "Assistant prefill the model continued; empty when none."),
    "response": (pa.string(), "The model's continuation, verbatim."),
    "think": (pa.string(), "Judged reasoning: the prefill plus the continuation's think text."),
    "answer_text": (pa.string(), "Text inside `<answer>` (or after the profile's answer marker)."),
    "status": (pa.string(), "Parse status: ok, no_answer_tag, unclosed_think, empty, unparseable, or error."),
    "answer_index": (pa.int32(), "Parsed answer option (0-based); null when it could not be parsed."),
    "correct": (pa.bool_(), "answer_index == gold_index; null when no answer was parsed or on error."),
    "letter_probs": (pa.list_(pa.float64()), "Letter distribution renormalised over the shown options (index = option)."),
    "letter_mass": (pa.float64(), "Full-vocabulary probability mass on the option letters before renormalising."),
    "entropy": (pa.float64(), "Shannon entropy (nats) of `letter_probs`."),
    "p_correct": (pa.float64(), "letter_probs[gold_index]."),
    "p_injected": (pa.float64(), "letter_probs[injected_index]; null when nothing was injected."),
    "uncertainty_source": (pa.string(), "`generation` (read during decoding), `forced` (teacher-forced pass) or null."),
    "uncertainty_note": (pa.string(), "Why uncertainty is missing or how it was obtained, when not obvious."),
    "prefill_mode": (pa.string(), "How the prefill was sent: `native`, `trailing_assistant`, `emulated` (quoted in the user turn, not a true prefill); null without a prefill or for local backends."),
    "retries": (pa.int32(), "API retries (rate-limit + transient) before this row's final answer; null for local backends."),
    "think_conclusion_index": (pa.int32(), "Option the think finally concludes (rule judge); null for no conclusion."),
    "judge_rule": (pa.string(), "Rule judge label: consistent, inconsistent, no_conclusion or unjudged."),
    "judge_panel": (pa.string(), "Label after an LLM judging pass: consistent, inconsistent, no_conclusion, tie, unparsed, unjudged; null before."),
    "judge_route": (pa.string(), "How judge_panel was reached: rule, audit, llm or none (docs/judges.md); null before judging."),
    "consistent": (pa.bool_(), "Think conclusion == answer: from `judge_panel` after an LLM judging pass, else the rule judge; null when undecided."),
    "quadrant": (pa.string(), "consistent_correct, consistent_incorrect, inconsistent_correct, inconsistent_incorrect, or null."),
    "n_prompt_tokens": (pa.int32(), "Prompt length in tokens."),
    "n_completion_tokens": (pa.int32(), "Generated tokens."),
    "latency_s": (pa.float64(), "Per-request wall time: local backends divide the batch time by its size; API backends measure first send to final answer, retry waits included."),
    "error": (pa.string(), "Error message when status is `error` (bad image, generation failure); else null."),
    "profile": (pa.string(), "Prompt profile name."),
    "template_version": (pa.string(), "Version of the perturbation templates."),
    "model": (pa.string(), "Model spec string."),
}

FIELDS.update(EXTRA_RECORD_FIELDS)  # source, parent_category, augmentation, group_* (robustcot.data.grouped)

SCHEMA = pa.schema([pa.field(name, typ) for name, (typ, _) in FIELDS.items()])
COLUMNS = list(FIELDS)


def record_key(sample_id: str, variant: str, abstain: bool) -> str:
    return f"{sample_id}|{variant}|{int(abstain)}"


def schema_markdown() -> str:
    """The documented schema as a Markdown table."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{n}` | {t} | {d} |" for n, (t, d) in FIELDS.items()]
    return "\n".join(lines) + "\n"

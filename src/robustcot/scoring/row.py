"""Turn one completion into one record row: parse, read letter uncertainty, judge, classify."""

from __future__ import annotations

from typing import Any

from robustcot.data.grouped import record_extras
from robustcot.data.sample import Sample
from robustcot.models.base import Completion
from robustcot.perturb.variants import PerturbedPrompt
from robustcot.prompting.profile import PromptProfile
from robustcot.records import record_key
from robustcot.scoring.parse import parse_response
from robustcot.scoring.rule_judge import judge_rule, quadrant
from robustcot.scoring.uncertainty import letter_uncertainty


def base_row(sample: Sample, pp: PerturbedPrompt, context: dict[str, Any]) -> dict[str, Any]:
    """Columns known before generation; ``context`` carries run-level columns (model, profile...)."""
    return {
        "key": record_key(sample.id, pp.variant, pp.abstain),
        "sample_id": sample.id,
        "benchmark": sample.benchmark,
        "category": sample.metadata.get("category"),
        **record_extras(sample),
        "question": sample.question,
        "options": list(pp.options),
        "variant": pp.variant,
        "abstain": pp.abstain,
        "n_options": len(pp.options),
        "gold_index": pp.gold_index,
        "wrong_index": pp.wrong_index,
        "injected_index": pp.injected_index,
        "abstain_index": pp.abstain_index,
        "prefill": pp.prefill or "",
        **context,
    }


def error_row(sample: Sample, pp: PerturbedPrompt, context: dict[str, Any], error: str) -> dict[str, Any]:
    return {**base_row(sample, pp, context), "status": "error", "error": error}


def failed_generation_row(row: dict[str, Any], completion: Completion) -> dict[str, Any] | None:
    """Record how the request was sent on ``row``; the error row when the generation failed, else None."""
    row.update(prefill_mode=completion.prefill_mode, retries=completion.retries)
    if completion.error:
        return {**row, "prompt": completion.prompt, "status": "error", "error": completion.error}
    return None


def scored_row(
    sample: Sample, pp: PerturbedPrompt, profile: PromptProfile, completion: Completion, context: dict[str, Any]
) -> dict[str, Any]:
    row = base_row(sample, pp, context)
    if (failed := failed_generation_row(row, completion)) is not None:
        return failed
    parsed = parse_response(completion.text, pp.options, prefill=pp.prefill or "", answer_style=profile.answer_style)
    correct = None if parsed.answer_index is None else parsed.answer_index == pp.gold_index
    judgement = judge_rule(parsed, pp.options)
    consistent = {"consistent": True, "inconsistent": False}.get(judgement.label)
    row.update(
        prompt=completion.prompt,
        response=completion.text,
        think=parsed.think,
        answer_text=parsed.answer_text,
        status=parsed.status,
        answer_index=parsed.answer_index,
        correct=correct,
        think_conclusion_index=judgement.conclusion_index,
        judge_rule=judgement.label,
        consistent=consistent,
        quadrant=quadrant(consistent, correct),
        n_prompt_tokens=completion.n_prompt_tokens,
        n_completion_tokens=completion.n_completion_tokens,
        latency_s=completion.latency_s,
        uncertainty_source=completion.uncertainty_source,
        uncertainty_note=completion.uncertainty_note,
    )
    letters = [chr(ord("A") + i) for i in range(len(pp.options))]
    unc = letter_uncertainty(completion.letter_logprobs, letters) if completion.letter_logprobs else None
    if unc is not None:
        row.update(
            letter_probs=unc.probs,
            letter_mass=unc.mass,
            entropy=unc.entropy,
            p_correct=unc.probs[pp.gold_index],
            p_injected=None if pp.injected_index is None else unc.probs[pp.injected_index],
        )
    elif completion.letter_logprobs is not None:
        row["uncertainty_note"] = "no probability mass on any option letter"
    return row

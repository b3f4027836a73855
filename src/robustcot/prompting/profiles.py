"""Prompt profiles of the models the study evaluates, and automatic choice from a model spec.

Each profile reproduces how the model's authors prompt it — system prompt, user template, answer
format, decoding settings — because an RL-tuned model asked in a format it was not trained on
loses accuracy for reasons unrelated to robustness. Sources are the authors' inference/eval code
(read at the commits cited in ``/work/shared/reference/training.md`` and the repositories
themselves); where the authors publish no prompt for multiple-choice images, the description says
which part is ours.

:func:`profile_for_model` picks a profile from a model spec (``hf:Osilly/Vision-R1-7B``,
``vllm:...``, ``openai:gpt-4o``) with an ordered pattern table — first match wins, specific before
generic — and any explicit profile name overrides it. A local checkpoint that names its profile
(:func:`write_checkpoint_profile`: robustcot's training writes it into every checkpoint it saves)
gets that one; other local checkpoints (``hf:/ckpt/step_250``) match nothing and get ``default``,
so name the profile explicitly for those.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from robustcot.prompting.profile import DEFAULT, PromptProfile, get_profile, register_profile

_THINK_ANSWER = (
    "Think about the question step by step inside <think> </think> tags, then give only the letter of the "
    "correct option inside <answer> </answer> tags, for example <answer>A</answer>."
)

QWEN25_VL = PromptProfile(
    name="qwen2.5-vl",
    description=(
        "Base Qwen2.5-VL-7B-Instruct. Qwen publishes no reasoning prompt, so the user turn is robustcot's "
        "generic <think>/<answer> instruction (same as `default`); system prompt left to the chat template "
        "('You are a helpful assistant.'). Decoding = the checkpoint's generation_config.json as recalled "
        "(top_k=1, top_p=0.001, temperature=0.1, repetition_penalty=1.05; unverified here, corroborated by "
        "third-party deploy scripts)."
    ),
    user_template="{question}\nOptions:\n{options}\n" + _THINK_ANSWER,
    generation={"do_sample": True, "temperature": 0.1, "top_p": 0.001, "top_k": 1, "repetition_penalty": 1.05},
)

VISION_R1 = PromptProfile(
    name="vision-r1",
    description=(
        "Vision-R1 (Osilly/Vision-R1): no system prompt; image then the question with choices inline as "
        "'Choices:\\nA: ...' (scripts/inference.sh). The model writes '<think>...</think> <answer> Final "
        "Answer: X </answer>' unprompted; evaluation extracts '<answer> Final Answer:(.*?) </answer>'. "
        "Decoding temperature 0.6, top_p 0.95, max 4096 tokens (16000 in their evalscope run)."
    ),
    user_template="{question}\nChoices:\n{options}",
    option_format="{letter}: {text}",
    answer_style="final_answer",
    answer_marker="Final Answer:",
    generation={"do_sample": True, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 4096},
)

_PONDER = (
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
)
_MC_LETTER = "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."

VIDEO_R1 = PromptProfile(
    name="video-r1",
    description=(
        "Video-R1 (tulerfeng/Video-R1, src/eval_bench.py): no system prompt; QUESTION_TEMPLATE with the "
        "question followed by 'Options:' lines, then the 'multiple choice' TYPE_TEMPLATE suffix (verbatim, "
        "including the authors' missing period). Decoding temperature 0.1, top_p 0.001, max 1024 tokens."
    ),
    user_template=(
        "{question}\nOptions:\n{options}\n\n"
        + _PONDER
        + "Provide your detailed reasoning between the <think> and </think> tags, and then give your final "
        "answer between the <answer> and </answer> tags. "
        + _MC_LETTER
    ),
    generation={"do_sample": True, "temperature": 0.1, "top_p": 0.001, "max_new_tokens": 1024},
)

VLAA_THINKER = PromptProfile(
    name="vlaa-thinker",
    description=(
        "VLAA-Thinker (UCSC-VLAA/VLAA-Thinking, inference.py): the required VL-Thinking system prompt, "
        "verbatim. The authors pass the question alone and publish no option layout, so the user turn uses "
        "VLMEvalKit's generic MCQ layout (ours). Greedy decoding, max_new_tokens 1000."
    ),
    system=(
        "You are VL-Thinking🤔, a helpful assistant with excellent reasoning ability. A user asks you a question, "
        "and you should try to solve it. You should first think about the reasoning process in the mind and then "
        "provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> "
        "and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer "
        "here </answer>"
    ),
    user_template="Question: {question}\nOptions:\n{options}\nPlease select the correct answer from the options above.",
    generation={"do_sample": False, "max_new_tokens": 1000},
)

#: ViGoRL's grounded-thinking system prompt. The authors' files (sat2_grounded_thinking.jinja for
#: training, eval_spatial.sh for evaluation) hold literal backslash-n sequences, not newlines, and
#: the model was trained and evaluated with them — so they are kept literal here.
_VIGORL_SYSTEM = (
    "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. The "
    "Assistant systematically reasons through the problem step by step by checking and verifying possible "
    "solutions and image regions, while grounding reasoning steps to specific objects and their relationships "
    "in the image using (x,y) coordinates. There may be one image or two images concatenated together, in which "
    "case the Assistant must compare the spatial relationships between the two images.\\n\\nAll reasoning "
    "processes must be enclosed within a single set of '<think>' tags, and reasoning steps must include specific "
    "reference coordinates:\\n\\nFor example, <think>\\n{Reasoning text}. {Further reasoning text} {more "
    "reasoning} \\n</think>\\n\\nThe final answer should be enclosed in '<answer>' tags in the format:\\n<answer> "
    "{text of selected answer choice} </answer>\\n\\nThe Assistant must help the user identify the correct "
    "answer choice from the options provided.\\n-Your answer should be the **exact text** of the selected "
    "answer option, without additional explanations or reasoning or the option text. For example, if the answer "
    "is A. right , your response should just be <answer>right</answer> (not <answer>A. right</answer>).\\n-If "
    "the correct answer is unclear, select the most relevant option based on the spatial relationships and "
    "dynamics within the image.\\n- The Assistant should verify each step and check multiple possible solutions "
    "before selecting the final answer."
)

VIGORL_SPATIAL = PromptProfile(
    name="vigorl-spatial",
    description=(
        "ViGoRL-Spatial (gsarch/ViGoRL-7b-Spatial; Gabesarch/grounded-rl scripts/evaluation/eval_spatial.sh): "
        "SYSTEM_PROMPT_GROUNDED_THINKING verbatim (literal '\\n' as in the authors' files); answers with the "
        "exact option TEXT in <answer>. The user-turn option layout of their SAT-2 jsonl was not read: "
        "'A. text' lines are ours (the system prompt's own example uses that form). Eval decoding: one greedy "
        "rollout (first_rollout_no_sample; temperature 0.5 for further rollouts), max 2048 new tokens, "
        "images capped at max_image_side 1260 (use ImagePolicy(max_side=1260))."
    ),
    system=_VIGORL_SYSTEM,
    user_template="{question}\n{options}",
    answer_style="option_text",
    generation={"do_sample": False, "max_new_tokens": 2048},
)

SPACER = PromptProfile(
    name="spacer",
    description=(
        "SpaceR (OuyangKun10/SpaceR, SpaceR-Eval 'thinking' prompt for image benchmarks, sparbench.py): no system "
        "prompt; 'Question: ' + question with 'Options:' lines, the pondering template and the MCA post-prompt "
        "after a blank line. Decoding temperature 0.01, max 1024 new tokens."
    ),
    user_template=(
        "Question: {question}\nOptions:\n{options}\n"
        + _PONDER
        + "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
        "between the <answer> </answer> tags.\n\n"
        + _MC_LETTER
    ),
    generation={"do_sample": True, "temperature": 0.01, "max_new_tokens": 1024},
)

R1 = PromptProfile(
    name="r1",
    description=(
        "Generic R1-style model (R1-V / EasyR1 r1v / open-r1 system prompt) answering with the option letter. "
        "For RL-tuned checkpoints whose authors publish no prompt; decoding settings unknown (greedy)."
    ),
    system=(
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
        "assistant first thinks about the reasoning process in the mind and then provides the user with the "
        "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> "
        "tags, respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>"
    ),
    user_template="{question}\nOptions:\n{options}\nGive only the letter of the correct option inside <answer> </answer>.",
    generation={"do_sample": False},
)

CLOSED_API = PromptProfile(
    name="closed-api",
    description=(
        "Closed API models (o3, o4-mini, Gemini, GPT-4o...). Their reasoning is hidden and APIs do not continue "
        "a trailing assistant message, so think-prefill variants cannot be applied as for open models (the "
        "paper does not say how it did this: a protocol deviation to report). The prompt asks for a visible "
        "<think> summary and the letter in <answer>; no sampling settings are sent (reasoning models reject "
        "temperature)."
    ),
    user_template="{question}\nOptions:\n{options}\n" + _THINK_ANSWER,
    generation={"max_new_tokens": 4096},
)

ORGANISM = PromptProfile(
    name="organism",
    description=(
        "robustcot's CPU model organism (robustcot.organism), trained on exactly this prompt: the question and "
        "its options, no instruction and no system turn (its chat template writes none by default). The "
        "<think>/<answer> format is learned, not asked for; the instruction and the default system prompt "
        "were 47 of every ~120 training tokens and carried nothing the organism could use."
    ),
    user_template="{question}\nOptions:\n{options}",
    generation={"do_sample": False, "max_new_tokens": 48},
)

BUILTIN: tuple[PromptProfile, ...] = (
    QWEN25_VL, VISION_R1, VIDEO_R1, VLAA_THINKER, VIGORL_SPATIAL, SPACER, R1, CLOSED_API, ORGANISM
)
for _profile in BUILTIN:
    register_profile(_profile)

#: Ordered (pattern, profile name) table matched case-insensitively against the full model spec.
#: Specific model families first, then API schemes, then generic R1 names.
MODEL_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), name)
    for p, name in (
        (r"vision-r1", VISION_R1.name),
        (r"video-r1", VIDEO_R1.name),
        (r"vlaa-thinker", VLAA_THINKER.name),
        (r"vigorl[-_].*spatial", VIGORL_SPATIAL.name),
        (r"(^|[:/])spacer([-_/.]|$)", SPACER.name),
        (r"qwen2\.5-vl-\d+b-instruct", QWEN25_VL.name),
        (r"^openai:", CLOSED_API.name),
        (r"(^|[:/])(o[1-9](-mini)?|gpt-|gemini|claude)", CLOSED_API.name),
        (r"(^|[-_/:])r1([-_/.]|$)", R1.name),
    )
]


def register_model_pattern(pattern: str, profile: str, *, first: bool = True) -> None:
    """Add a pattern → profile rule; ``first`` (default) lets it take precedence over built-ins."""
    get_profile(profile)  # fail now on a misspelt profile name
    rule = (re.compile(pattern, re.IGNORECASE), profile)
    if first:
        MODEL_PATTERNS.insert(0, rule)
    else:
        MODEL_PATTERNS.append(rule)


#: File in a checkpoint directory naming the prompt profile the checkpoint was trained with.
CHECKPOINT_PROFILE_FILE = "robustcot_profile.json"


def write_checkpoint_profile(directory: str | Path, profile: str) -> None:
    """Record in ``directory`` that the checkpoint there was trained on ``profile``'s prompts."""
    (Path(directory) / CHECKPOINT_PROFILE_FILE).write_text(json.dumps({"prompt_profile": profile}) + "\n")


def checkpoint_profile_name(model_spec: str) -> str | None:
    """The profile a local checkpoint names (:func:`write_checkpoint_profile`), else None."""
    from robustcot.errors import ConfigError
    from robustcot.models.registry import local_weights

    try:
        directory = local_weights(model_spec)
    except ConfigError:
        return None
    if directory is None or not (marker := directory / CHECKPOINT_PROFILE_FILE).is_file():
        return None
    try:
        return str(json.loads(marker.read_text())["prompt_profile"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{marker}: not a prompt-profile record ({exc!r}); expected {{\"prompt_profile\": NAME}}") from exc


def profile_name_for_model(model_spec: str) -> str:
    """Name of the profile a local checkpoint records, else of the first profile whose pattern
    matches ``model_spec``; ``default`` when none does."""
    if (recorded := checkpoint_profile_name(model_spec)) is not None:
        return recorded
    for pattern, name in MODEL_PATTERNS:
        if pattern.search(model_spec):
            return name
    return DEFAULT.name


def profile_for_model(model_spec: str, override: str | None = None) -> PromptProfile:
    """The profile for ``model_spec``; ``override`` (a profile name other than ``auto``) wins."""
    if override not in (None, "", "auto"):
        return get_profile(override)
    return get_profile(profile_name_for_model(model_spec))

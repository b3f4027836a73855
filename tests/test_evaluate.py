"""End to end: the tiny model through perturbations, parsing, judging, store and summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from robustcot.cli import app
from robustcot.config import EvalConfig
from robustcot.data.registry import BenchmarkInfo, register_benchmark
from robustcot.data.sample import Sample
from robustcot.evaluate import run_eval
from robustcot.models.hf import HFConfig
from robustcot.perturb.variants import VARIANTS
from robustcot.store import read_part

pytestmark = pytest.mark.slow

SMALL_TEST_HF = HFConfig(max_new_tokens=16)


def test_cli_eval_writes_a_complete_run_and_rerun_is_free(tmp_path):
    out = tmp_path / "run"
    args = ["eval", "--model", "tiny", "--limit", "3", "--variants", "all", "--abstain", "--out", str(out),
            "--max-new-tokens", "12", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out / "records.parquet")
    assert len(df) == 3 * len(VARIANTS) * 2 and df["key"].is_unique
    assert set(df["variant"]) == set(VARIANTS)
    # one wrong option per sample, shared by all variants and both abstain settings
    assert (df.groupby("sample_id")["wrong_index"].nunique() == 1).all()
    assert (df["wrong_index"] != df["gold_index"]).all()
    think = df[df["variant"].isin(["wrong_think", "correct_think", "stop_think"])]
    assert all(p.endswith(f) for p, f in zip(think["prompt"], think["prefill"], strict=True))
    assert (df.loc[df["abstain"], "n_options"] == df.loc[~df["abstain"], "n_options"].to_numpy() + 1).all()
    scored = df[df["status"] != "error"]
    assert scored["entropy"].notna().all() and scored["letter_mass"].between(0, 1).all()
    assert scored["letter_probs"].map(lambda p: abs(sum(p) - 1) < 1e-6).all()
    assert set(scored["uncertainty_source"]) <= {"generation", "forced"}
    meta = json.loads((out / "run.json").read_text())
    assert meta["template_version"] and meta["versions"]["transformers"]
    assert meta["fingerprint"]["architecture"] == "Qwen2_5_VLForConditionalGeneration"
    summary = (out / "summary.md").read_text()
    assert "wrong_caption" in summary and "accuracy" in summary.lower()

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "nothing left to generate" in again.output
    assert pd.read_parquet(out / "records.parquet").equals(df)


def test_cli_reports_bad_variant_clearly(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--variants", "base,wrong_thinkk", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "wrong_thinkk" in result.output and "valid variants" in result.output


class _FailingBackend:
    """Wraps the real tiny backend and fails every batch containing one chosen sample."""

    def __init__(self, inner, bad_sample):
        self.inner, self.bad, self.name = inner, bad_sample, inner.name

    def generate(self, requests):
        if any(r.key.startswith(self.bad + "|") for r in requests):
            raise RuntimeError("CUDA error: device-side assert (simulated)")
        return self.inner.generate(requests)

    def fingerprint(self):
        return self.inner.fingerprint()


def _register_broken_benchmark():
    from robustcot.data.synthetic import synthetic_samples

    def load(limit=None, seed=0):
        good = synthetic_samples(3, seed=seed)
        bad = Sample(**{**good[1].model_dump(), "id": "broken-image", "images": [b"not an image"]})
        return [good[0], bad, good[2]][:limit]

    info = BenchmarkInfo("broken_for_test", "test data with one unreadable image", load, "tests", "n/a")
    register_benchmark(info)


def test_one_bad_sample_becomes_an_error_row_and_the_run_goes_on(tmp_path, tiny_backend):
    _register_broken_benchmark()
    samples_ok = "synthetic-0-2"
    backend = _FailingBackend(tiny_backend, samples_ok)
    config = EvalConfig(benchmark="broken_for_test", limit=3, variants=["base", "wrong_think"], out=tmp_path,
                        batch_size=4, hf=SMALL_TEST_HF)
    result = run_eval(config, backend=backend, show_progress=False)
    df = result.records.set_index("key")
    assert len(df) == 6
    assert (df.loc[df["sample_id"] == "broken-image", "status"] == "error").all()
    assert df.loc[df["sample_id"] == "broken-image", "error"].str.contains("broken-image.*unreadable").all()
    assert df.loc[df["sample_id"] == samples_ok, "error"].str.contains("simulated").all()
    assert (df.loc[df["sample_id"] == "synthetic-0-0", "status"] != "error").all()
    # errors are retried on the next run; the healthy backend now fixes the generation failure
    rerun = run_eval(config, backend=tiny_backend, show_progress=False)
    assert rerun.generated == 4
    df2 = rerun.records.set_index("key")
    assert (df2.loc[df2["sample_id"] == samples_ok, "status"] != "error").all()
    assert (df2.loc[df2["sample_id"] == "broken-image", "status"] == "error").all()
    assert df2.index.is_unique


def _python_cli(*args):
    code = "import sys; from robustcot.cli import app; sys.argv = ['robustcot', *sys.argv[1:]]; app()"
    return [sys.executable, "-c", code, *args]


def test_sigkill_loses_at_most_the_batch_in_flight_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    args = ["eval", "--model", "tiny", "--limit", "6", "--variants", "all", "--batch-size", "4",
            "--max-new-tokens", "24", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(_python_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = out / "parts"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(parts.glob("[0-9]*.arrow"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = sorted(parts.glob("[0-9]*.arrow"))
    assert len(written) >= 3, proc.stderr.read().decode()[-2000:]
    before = pd.concat([read_part(p).to_pandas() for p in written])
    assert before["key"].is_unique and len(before) == 4 * len(written)
    assert not (out / "records.parquet").exists()

    done = subprocess.run(_python_cli(*args), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    df = pd.read_parquet(out / "records.parquet")
    assert len(df) == 6 * len(VARIANTS) and df["key"].is_unique
    # rows written before the kill are kept verbatim, not regenerated
    kept = df.set_index("key").loc[before["key"], "response"]
    assert list(kept) == list(before["response"])
    assert f"{6 * len(VARIANTS) - len(before)} generations" in done.stdout


def test_variant_that_cannot_apply_is_an_error_row(tmp_path, tiny_backend):
    from robustcot.data.synthetic import synthetic_samples

    def load(limit=None, seed=0):
        good = synthetic_samples(1, seed=seed)[0]
        # 26 options leave no letter for "I'm not sure": abstain rows fail, the rest run
        full = Sample(id="full-alphabet", benchmark="alphabet_for_test", question="Which letter?",
                      options=[f"option {i}" for i in range(26)], gold_index=3, images=good.images)
        return [full]

    register_benchmark(BenchmarkInfo("alphabet_for_test", "26 options", load, "tests", "n/a"))
    config = EvalConfig(benchmark="alphabet_for_test", limit=1, variants=["base"], abstain=True, out=tmp_path,
                        hf=SMALL_TEST_HF)
    df = run_eval(config, backend=tiny_backend, show_progress=False).records.set_index("key")
    assert df.loc["full-alphabet|base|1", "status"] == "error"
    assert "no letter is left" in df.loc["full-alphabet|base|1", "error"]
    assert df.loc["full-alphabet|base|0", "status"] != "error"
    assert len(df.loc["full-alphabet|base|0", "letter_probs"]) == 26


def test_rows_made_by_other_weights_are_not_reused(tmp_path, tiny_path):
    """A local checkpoint retrained in place keeps its spec; the run notices by the weights' digest."""
    import shutil

    from robustcot.errors import ConfigError
    from robustcot.evaluate import stale_weights

    model = tmp_path / "model"
    shutil.copytree(tiny_path, model)
    config = EvalConfig(model=f"hf:{model}", benchmark="synthetic", limit=2, variants=["base"],
                        out=tmp_path / "run", hf=SMALL_TEST_HF)  # fmt: skip
    first = run_eval(config, show_progress=False).records
    assert stale_weights(config.out, config.model) is None
    assert run_eval(config, show_progress=False).records["response"].tolist() == first["response"].tolist()

    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x01")  # one value changed
    reason = stale_weights(config.out, config.model)
    assert reason is not None and "other weights" in reason
    with pytest.raises(ConfigError, match="other weights"):
        run_eval(config, show_progress=False)


def test_demo_starts_afresh_when_the_organism_changed(tmp_path):
    from robustcot.store import RunStore

    out = tmp_path / "demo"
    RunStore(out).write_meta({"fingerprint": {"weights_digest": "0" * 16}})  # an older organism's run
    (out / "stale.txt").write_text("rows of an older organism")
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "starting it afresh" in " ".join(result.output.split())
    assert not (out / "stale.txt").exists() and (out / "records.parquet").exists()

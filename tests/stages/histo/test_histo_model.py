"""The trained histology model: reproducible from the script, good enough on held-out frames,
loadable from a user's JSON or a plugin, and served by Triton the same way."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

from quilt.adapters.config import load_settings
from quilt.stages.histo.model import EMBEDDED_MODEL_PATH, HistoModelError, LogisticModel, binary_metrics, roc_auc
from quilt.stages.histo.scorers import (
    FEATURE_NAMES,
    HISTO_MODEL_NAME,
    LocalHistoScorer,
    TritonHistoScorer,
    histo_score,
    load_scorer,
)
from quilt.testing.slides import histology_slide, text_slide
from tests import histo_plugin_example

REPO = Path(__file__).resolve().parents[3]
PLUGIN = "tests.histo_plugin_example:make_scorer"

# Bars the held-out split (never fitted or calibrated on) must clear at threshold 0.5.
MIN_ACCURACY, MIN_AUC, MAX_BRIER, MAX_ECE = 0.97, 0.99, 0.03, 0.05


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_histo() -> ModuleType:
    return _load_module("train_histo", REPO / "scripts" / "train_histo.py")


def test_committed_model_is_what_the_script_trains(train_histo: ModuleType, tmp_path: Path) -> None:
    """Retrain with the defaults (~15-20 s: ~1000 generated frames) and compare with the committed file."""
    out = tmp_path / "histo_model.json"
    assert train_histo.main(["--out", str(out)]) == 0
    assert out.read_text() == EMBEDDED_MODEL_PATH.read_text()


def test_training_is_deterministic_and_seeded(train_histo: ModuleType, tmp_path: Path) -> None:
    small = ["--train", "16", "--calibration", "8", "--heldout", "8"]
    paths = [tmp_path / name for name in ("a.json", "b.json", "c.json")]
    for path, seed in zip(paths, ("3", "3", "4"), strict=True):
        assert train_histo.main([*small, "--seed", seed, "--out", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()  # another seed, other images
    data = json.loads(paths[0].read_text())
    assert data["seed"] == 3 and data["split_sizes"] == {"train": 32, "calibration": 16, "heldout": 16}


def test_committed_model_meets_its_heldout_bars() -> None:
    data = json.loads(EMBEDDED_MODEL_PATH.read_text())
    metrics = data["heldout_metrics"]
    assert data["name"] == HISTO_MODEL_NAME and data["threshold"] == 0.5
    assert data["split_sizes"]["heldout"] >= 300 and data["split_sizes"]["train"] >= 400
    assert metrics["n"] == data["split_sizes"]["heldout"]
    assert metrics["accuracy"] >= MIN_ACCURACY, metrics
    assert metrics["auc"] >= MIN_AUC, metrics
    assert metrics["brier"] <= MAX_BRIER, metrics
    assert metrics["ece"] <= MAX_ECE, metrics
    assert min(data["heldout_accuracy_by_kind"].values()) >= 0.8, data["heldout_accuracy_by_kind"]
    assert EMBEDDED_MODEL_PATH.stat().st_size < 8_000  # commit-sized


def test_metrics_match_their_definitions() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)
    pairs = [(a, b) for a in p[y == 1] for b in p[y == 0]]
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert roc_auc(y, p) == pytest.approx(brute)
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    m = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.2, 0.6]))
    assert m["accuracy"] == 0.5 and m["brier"] == pytest.approx((0.01 + 0.36 + 0.04 + 0.36) / 4)
    # One bin per prediction here: ECE = mean |label - p|.
    assert m["ece"] == pytest.approx((0.1 + 0.6 + 0.2 + 0.6) / 4)
    perfect = binary_metrics(np.array([1, 0]), np.array([1.0, 0.0]))
    assert perfect["ece"] == 0.0 and perfect["auc"] == 1.0


def test_logistic_model_round_trips_and_refuses_malformed_files(tmp_path: Path) -> None:
    model = LogisticModel.load(EMBEDDED_MODEL_PATH)
    assert LogisticModel.from_dict(json.loads(model.dumps())).dumps() == model.dumps()
    x = np.random.default_rng(1).uniform(0, 1, (5, len(model.feature_names)))
    assert np.all((model.predict(x) > 0) & (model.predict(x) < 1))
    bad = json.loads(model.dumps())
    bad["weights"] = bad["weights"][:-1]
    for text, message in ((json.dumps(bad), "one value per term"), ("{not json", "cannot read"),
                          (json.dumps({"format": "other"}), "not a quilt-histo-logreg")):
        path = tmp_path / "bad.json"
        path.write_text(text)
        with pytest.raises(HistoModelError, match=message) as err:
            LogisticModel.load(path)
        assert str(path) in str(err.value)


def test_load_scorer_specs(tmp_path: Path) -> None:
    tissue, slide = histology_slide(5, (320, 240)), text_slide("Outline", ["one", "two"], (320, 240))
    embedded = load_scorer("embedded")
    assert load_scorer("") is embedded and embedded.name == HISTO_MODEL_NAME
    assert embedded.score([tissue]) == [histo_score(tissue)]
    # A JSON model by path: here the embedded one renamed.
    data = json.loads(EMBEDDED_MODEL_PATH.read_text())
    data["name"] = "my-model"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    mine = load_scorer(str(path))
    assert mine.name == "my-model" and mine.score([tissue, slide]) == embedded.score([tissue, slide])
    # A plugin factory.
    plugin = load_scorer(PLUGIN)
    assert plugin.name == "example-pink-purple-v1"
    high, neutral = plugin.score([tissue, slide])
    assert high > 0.6 and neutral == 0.5  # red and blue over green; black on white is neither
    assert LocalHistoScorer(PLUGIN).name == "example-pink-purple-v1"


@pytest.mark.parametrize(("spec", "message"), [
    ("missing-model.json", "no such file"),
    ("no_such_package.mod:factory", "cannot import module"),
    ("tests.histo_plugin_example:nothing_here", "no callable"),
    ("tests.histo_plugin_example:not_a_scorer", "not a HistoScorer"),
    ("convnext please", "expected 'embedded'"),
])
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(HistoModelError, match=message) as err:
        load_scorer(spec)
    assert repr(spec) in str(err.value)


def test_json_with_unknown_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(EMBEDDED_MODEL_PATH.read_text())
    renamed = data["features"][0]
    data["features"][0] = "cell_count"
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(HistoModelError, match=f"terms use features it does not list: {renamed}"):
        load_scorer(str(path))
    # Renamed everywhere the file is consistent, but this version cannot compute the feature.
    data["terms"] = [t.replace(renamed, "cell_count") for t in data["terms"]]
    path.write_text(json.dumps(data))
    with pytest.raises(HistoModelError, match="features this version lacks: cell_count"):
        load_scorer(str(path))


def test_user_trains_on_own_folders(train_histo: ModuleType, tmp_path: Path) -> None:
    from quilt.testing.tissue_set import flat_frame, he_slide, text_frame

    for folder, make in (("pos", he_slide), ("neg", lambda s: text_frame(s) if s % 2 else flat_frame(s))):
        (tmp_path / folder / "sub").mkdir(parents=True)
        for seed in range(10):
            image = Image.fromarray(make(seed)).resize((160, 120))
            image.save(tmp_path / folder / ("sub" if seed % 3 == 0 else "") / f"{seed}.png")
    out = tmp_path / "lab.json"
    args = ["--positives", str(tmp_path / "pos"), "--negatives", str(tmp_path / "neg"), "--out", str(out)]
    assert train_histo.main(args) == 0
    data = json.loads(out.read_text())
    assert data["training_data"] == "folders" and data["name"] == "histo-logreg-lab"
    assert data["split_sizes"] == {"train": 12, "calibration": 4, "heldout": 4}
    scorer = load_scorer(str(out))
    tissue, slide = scorer.score([he_slide(99), text_frame(99)])
    assert tissue > 0.5 > slide
    with pytest.raises(SystemExit):
        train_histo.main(["--positives", str(tmp_path / "pos"), "--out", str(out)])


def test_setting_names_the_model() -> None:
    assert load_settings(env={}).histo_model == "embedded"
    assert load_settings(env={"QUILT_HISTO_MODEL": PLUGIN}).histo_model == PLUGIN


class _FakeTensor:
    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name, self.value = name, value

    def as_numpy(self) -> np.ndarray:
        return self.value


def _fake_pb_utils() -> ModuleType:
    pb = types.ModuleType("triton_python_backend_utils")
    pb.Tensor = _FakeTensor  # type: ignore[attr-defined]
    pb.TritonError = lambda message: message  # type: ignore[attr-defined]
    pb.InferenceResponse = lambda output_tensors, error=None: types.SimpleNamespace(  # type: ignore[attr-defined]
        outputs={t.name: t.value for t in output_tensors}, error=error)
    pb.get_input_tensor_by_name = lambda request, name: request[name]  # type: ignore[attr-defined]
    return pb


@pytest.mark.parametrize("spec", ["", PLUGIN])
def test_triton_model_serves_the_configured_scorer(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", _fake_pb_utils())
    monkeypatch.setenv("QUILT_HISTO_MODEL", spec)
    served = _load_module("histo_classifier_model", REPO / "triton_models" / "histo_classifier" / "1" / "model.py")
    model = served.TritonPythonModel()
    model.initialize({})
    images = [histology_slide(2, (200, 150)), text_slide("Title", ["x"], (200, 150))]
    responses = model.execute([{"IMAGE_RGB": _FakeTensor("IMAGE_RGB", image)} for image in images]
                              + [{}])  # a request without its input
    local = LocalHistoScorer(spec or "embedded")
    for response, expected in zip(responses, local.score(images), strict=False):
        assert response.error is None
        assert float(response.outputs["HISTO_SCORE"][0]) == pytest.approx(expected, abs=1e-6)
        assert response.outputs["MODEL_NAME"][0] == local.name.encode()
    assert responses[2].error is not None  # a bad request fails alone


def test_triton_client_reports_the_served_name(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tritonclient.grpc")

    class FakeResult:
        def as_numpy(self, name: str) -> Any:
            return {"HISTO_SCORE": np.array([0.75], np.float32),
                    "MODEL_NAME": np.array([b"lab-model"], dtype=np.object_)}.get(name)

    class FakeClient:
        def infer(self, *args: Any, **kwargs: Any) -> FakeResult:
            return FakeResult()

    scorer = TritonHistoScorer("127.0.0.1:1")
    assert scorer.name == HISTO_MODEL_NAME  # until a score says otherwise
    monkeypatch.setattr(scorer, "_client", FakeClient())
    assert scorer.score([histology_slide(1, (64, 48))]) == [0.75]
    assert scorer.name == "lab-model"


def test_plugin_gets_batches() -> None:
    before = len(histo_plugin_example.CALLS)
    LocalHistoScorer(PLUGIN).score([histology_slide(1, (64, 48))] * 3)
    assert histo_plugin_example.CALLS[before:] == [3]


def test_feature_names_are_what_the_model_uses() -> None:
    model = LogisticModel.load(EMBEDDED_MODEL_PATH)
    assert model.feature_names == FEATURE_NAMES
    assert set(model.terms) >= set(FEATURE_NAMES)

"""Uniform model soup: LoRA deltas averaged as one LoRA of k times the rank, other tensors averaged."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_encoder import make_tiny_bert
from xsent_core.cli import main as cli_main
from xsent_core.recipes import run_preset
from xsent_core.registry import load_model, read_model_card
from xsent_core.soup import average_states, make_soup, soup_config
from xsent_core.types import CheckpointError, Example

A = "enc.q.lora_A.default.weight"
B = "enc.q.lora_B.default.weight"


def test_average_states_by_hand():
    one = {A: torch.tensor([[1.0, 2.0]]), B: torch.tensor([[1.0], [0.0]]), "head.weight": torch.tensor([[1.0, 1.0]]),
           "tokens": torch.tensor([5, 6])}
    two = {A: torch.tensor([[0.0, 1.0]]), B: torch.tensor([[0.0], [2.0]]), "head.weight": torch.tensor([[3.0, 5.0]]),
           "tokens": torch.tensor([5, 6])}
    soup = average_states([one, two])
    assert soup[A].tolist() == [[1.0, 2.0], [0.0, 1.0]]  # rank 1 + 1 stacked
    assert soup[B].tolist() == [[1.0, 0.0], [0.0, 2.0]]
    assert soup["head.weight"].tolist() == [[2.0, 3.0]]
    assert soup["tokens"].tolist() == [5, 6]
    # scale s/k on the stacked pair is the mean of the members' deltas: ([[1,2],[0,0]] + [[0,0],[0,2]]) / 2
    s = 2.0
    assert ((s / 2) * soup[B] @ soup[A]).tolist() == [[1.0, 2.0], [0.0, 2.0]]
    assert torch.equal((s / 2) * soup[B] @ soup[A], (s * one[B] @ one[A] + s * two[B] @ two[A]) / 2)


def test_average_states_refuses_what_cannot_be_averaged():
    base = {"head.weight": torch.ones(2, 2), "tokens": torch.tensor([1, 2])}
    with pytest.raises(ValueError, match="at least 2"):
        average_states([base])
    with pytest.raises(ValueError, match="other tensors"):
        average_states([base, {"head.weight": torch.ones(2, 2)}])
    with pytest.raises(ValueError, match="shapes differ"):
        average_states([base, {**base, "head.weight": torch.ones(3, 2)}])
    with pytest.raises(ValueError, match="tokens: differs"):
        average_states([base, {**base, "tokens": torch.tensor([1, 3])}])


def test_soup_config_multiplies_the_rank_and_needs_one_recipe():
    lora = {"adapt": "lora", "lora_rank": 16, "lora_alpha": 32.0}
    assert soup_config([lora, lora, lora]) == {"adapt": "lora", "lora_rank": 48, "lora_alpha": 32.0}
    assert soup_config([{"adapt": "top-k"}] * 2) == {"adapt": "top-k"}
    with pytest.raises(ValueError, match=r"keys \['lora_rank'\]"):
        soup_config([lora, {**lora, "lora_rank": 8}])


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two LoRA taggers of one recipe (tiny random encoder), seeds 1 and 2, through the real recipe."""
    root = tmp_path_factory.mktemp("soup")
    tiny = str(make_tiny_bert(root / "tiny-bert"))
    out = []
    for seed in (1, 2):
        folder = root / f"tagger-{seed}"
        report = run_preset("tagger", "tagger-tiny", folder, progress=False, evaluate_tests=False,
                            overrides={"encoder": tiny, "adapt": "lora", "lora_rank": 2, "lora_alpha": 4.0},
                            train_overrides={"seed": seed, "max_steps": 3, "lr": 5e-2})
        assert report["status"] == "finished"
        out.append(folder)
    return out


def test_soup_of_lora_models_predicts_with_the_mean_of_their_weights(members, tmp_path):
    report = make_soup(members, tmp_path / "soup", evaluate=False)
    assert report["members"] == [str(m) for m in members]
    card = read_model_card(tmp_path / "soup")
    assert card.config["lora_rank"] == 4 and card.config["lora_alpha"] == 4.0
    assert [m["path"] for m in card.training["soup_of"]] == [str(m) for m in members]
    loaded = [load_model(m) for m in members]
    soup = load_model(tmp_path / "soup")
    weights = [dict(m.named_parameters()) for m in loaded]
    for name, param in soup.named_parameters():  # folded encoder weights and the head: the members' mean
        assert torch.allclose(param, (weights[0][name] + weights[1][name]) / 2, atol=2e-3), name
    assert any(not torch.allclose(weights[0][n], weights[1][n]) for n in weights[0] if ".layer." in n)  # the seeds differ
    assert len(soup.predict([Example(id="1", text="the food was great")])) == 1
    saved = load_file(str(tmp_path / "soup" / "model.safetensors"))
    assert saved[next(k for k in saved if "lora_A" in k)].shape[0] == 4


def test_soup_scores_itself_on_the_members_preset_and_writes_a_card(members, tmp_path, capsys):
    out = tmp_path / "soup"
    assert cli_main(["soup", "--models", *map(str, members), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "f1" in printed["dev"]
    card = read_model_card(out)
    assert card.metrics["dev"]["f1"] == printed["dev"]["f1"]
    text = (out / "README.md").read_text()
    assert "uniform soup of 2 models" in text and "python -m xsent_core soup --models" in text


def test_soup_refuses_models_of_another_recipe_or_method(members, tmp_path, tiny_classifier_dir):
    with pytest.raises(CheckpointError, match="at least 2"):
        make_soup(members[:1], tmp_path / "one")
    with pytest.raises(CheckpointError, match="classifier"):
        make_soup([members[0], tiny_classifier_dir], tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()


def test_methods_with_hidden_units_refuse_a_soup(tmp_path):
    from xsent_core.registry import method_class

    assert method_class("tagger").averageable and method_class("vxlm").averageable
    assert not method_class("ctam").averageable and not method_class("lfdrt").averageable
    for name in ("a", "b"):  # two folders that claim to be CTAM models: refused before any tensor is read
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(
            {"format": "xsent-model", "format_version": 1, "method": "ctam", "encoder_fingerprint": "x", "config": {}}))
    with pytest.raises(CheckpointError, match="ctam models cannot be averaged"):
        make_soup([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")


def test_a_corrupt_member_is_named_and_nothing_is_written(members, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(members[1], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="broken/model.safetensors: unreadable"):
        make_soup([members[0], broken], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_greedy_members_keeps_a_candidate_only_when_the_soup_holds_its_dev_score():
    from xsent_core.soup import greedy_members

    own = {"a": 60.0, "b": 62.0, "c": 61.0, "d": 59.0}
    soups = {("b", "c"): 62.5, ("b", "c", "a"): 62.0, ("b", "c", "d"): 62.5}
    calls = []

    def soup_dev(group):
        calls.append(tuple(group))
        return soups[tuple(group)]

    kept, steps = greedy_members(own, soup_dev)
    assert calls == [("b", "c"), ("b", "c", "a"), ("b", "c", "d")]  # best own dev first, then in order
    assert kept == ["b", "c", "d"]  # a tie on dev keeps the member
    assert [(s["member"], s["kept"]) for s in steps] == [("b", True), ("c", True), ("a", False), ("d", True)]
    assert steps[2]["dev"] == 62.0

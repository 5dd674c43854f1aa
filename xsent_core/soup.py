"""Weight averaging ("uniform model soup") of models trained with one recipe and several seeds.

Seeds of one recipe scatter (the tagger's English test F1: 63.7 ± 1.6 over three
seeds); the average of the weights of fine-tunes that start from one pretrained
encoder often predicts better than any one of them (Wortsman et al., 2022, "Model
soups") and costs what one model costs at inference.

LoRA members are averaged as deltas. The mean of s·B_i·A_i over k members is one
LoRA of rank k·r: the A matrices stacked, the B matrices side by side, and the
scale s/k, i.e. the same alpha over k times the rank. So a soup folds into the
encoder at load like any LoRA model and predicts exactly as fast; its file is k
times a member's. Every other floating tensor (heads, trained top layers) is
averaged; tensors that are not floats (token tables, stored text) must be equal.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import torch

from .types import CheckpointError

MIN_MEMBERS = 2


def average_states(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The soup of k trained state dicts with the same names and shapes (see the module doc).

    Raises ValueError when the members do not hold the same tensors, or differ in a
    tensor that cannot be averaged.
    """
    from .encoders.lora import ADAPTER_KEY

    if len(states) < MIN_MEMBERS:
        raise ValueError(f"a soup needs at least {MIN_MEMBERS} models, got {len(states)}")
    names = set(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != names:
            odd = sorted(names.symmetric_difference(state))
            raise ValueError(f"model {i + 1} holds other tensors than model 1: {odd[:5]}")
    soup: dict[str, torch.Tensor] = {}
    for name in sorted(names):
        tensors = [state[name] for state in states]
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) != 1:
            raise ValueError(f"{name}: shapes differ between the models: {sorted(shapes)}")
        first = tensors[0]
        adapter = ADAPTER_KEY.match(name)
        if adapter is not None:  # A: [r, in] stacked to [k r, in]; B: [out, r] side by side to [out, k r]
            soup[name] = torch.cat([t.float() for t in tensors], dim=0 if adapter["half"] == "A" else 1).to(first.dtype)
        elif first.is_floating_point():
            soup[name] = torch.stack([t.float() for t in tensors]).mean(0).to(first.dtype)
        elif all(torch.equal(first, t) for t in tensors[1:]):
            soup[name] = first.clone()
        else:
            raise ValueError(f"{name}: differs between the models and cannot be averaged")
    return soup


def soup_config(configs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The members' shared method config, with the LoRA rank multiplied by their number."""
    first = dict(configs[0])
    for i, config in enumerate(configs[1:], start=1):
        differ = sorted(k for k in set(first) | set(config) if first.get(k) != config.get(k))
        if differ:
            raise ValueError(f"model {i + 1} has another config than model 1 (keys {differ}): a soup averages one recipe's seeds")
    if first.get("adapt") == "lora":
        first["lora_rank"] = int(first["lora_rank"]) * len(configs)
    return first


def make_soup(
    members: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    command: str = "",
    evaluate: bool = True,
) -> dict[str, Any]:
    """Average `members` (model folders of one method, recipe and encoder) into the model folder `out`.

    With `evaluate`, the soup is scored on the dev and test sets of the members'
    preset (read from their config.json) and gets metrics and a model card like a
    trained model. Returns {"model", "members", "dev", "test"}.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .config import config_from_dict
    from .registry import method_class, read_model_card, save_model

    cards = [read_model_card(p) for p in members]
    if len(cards) < MIN_MEMBERS:
        raise CheckpointError(f"a soup needs at least {MIN_MEMBERS} models, got {len(cards)}")
    for card in cards[1:]:
        if card.method != cards[0].method:
            raise CheckpointError(f"{card.path} holds a {card.method!r} model, {cards[0].path} a {cards[0].method!r} model")
        if card.encoder_fingerprint != cards[0].encoder_fingerprint:
            raise CheckpointError(f"{card.path} was trained on another encoder than {cards[0].path}")
    cls = method_class(cards[0].method)
    if not cls.averageable:
        raise CheckpointError(
            f"{cards[0].method} models cannot be averaged: the modules it adds have hidden units whose order differs "
            "from seed to seed (see Method.averageable)"
        )
    states = []
    for card in cards:
        try:
            states.append(load_file(str(card.path / "model.safetensors")))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{card.path}/model.safetensors: unreadable ({e})") from e
    try:
        config = soup_config([card.config for card in cards])
        soup = average_states(states)
    except ValueError as e:
        raise CheckpointError(str(e)) from e
    model = cls.create(config_from_dict(cls.config_cls, config), device="cpu")  # train-time form: adapters of the soup's rank
    expected = model.trained_state_dict()
    if set(expected) != set(soup) or any(tuple(expected[k].shape) != tuple(soup[k].shape) for k in soup):
        raise CheckpointError(f"the averaged tensors do not fit a {cards[0].method} model of this config")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in soup.items()}, strict=False)
    # fp16 when any member is: the average carries no more precision than its least precise member
    half = any(t.dtype == torch.float16 for state in states for t in state.values() if t.is_floating_point())
    made_of = [{"path": str(card.path), "created": card.created, **{k: card.training[k] for k in ("preset", "command", "steps")
                                                                      if k in card.training}} for card in cards]
    save_model(model, out, training={"soup_of": made_of, "command": command}, half=half)
    report: dict[str, Any] = {"model": str(out), "members": [str(c.path) for c in cards], "dev": {}, "test": {}}
    preset_name = cards[0].training.get("preset")
    if evaluate and isinstance(preset_name, str):
        _score_and_card(cards, out, preset_name, command, half, made_of, report)
    return report


def _score_and_card(cards: Sequence[Any], out: str | os.PathLike[str], preset_name: str, command: str, half: bool,
                    made_of: Sequence[Mapping[str, Any]], report: dict[str, Any]) -> None:
    """Dev and test scores of the saved soup, its metrics and model card (the members' preset's data)."""
    from .model_card import MeasuredTable, model_card_text
    from .recipes import finish_run, get_preset

    method = cards[0].method
    preset = get_preset(method, preset_name)
    timed = [float(card.training["seconds"]) for card in cards if isinstance(card.training.get("seconds"), (int, float))]
    report["seconds"] = sum(timed)
    report["steps"] = 0
    rank = cards[0].config.get("lora_rank") if cards[0].config.get("adapt") == "lora" else None
    lines = [f"A uniform soup of {len(cards)} models of one recipe (different seeds): "
             + ("their LoRA deltas averaged (rank " + f"{rank} x {len(cards)}, alpha kept), " if rank else "")
             + "every other trained tensor averaged (`xsent_core/soup.py`). Members and their own rebuild commands:", ""]
    lines += [f"- `{card.path.name}` ({card.training.get('steps', '?')} steps, kept at step "
              f"{card.metrics.get('dev', {}).get('step', card.training.get('step', '?'))}): `{card.training.get('command', '?')}`"
              for card in cards]
    lines += ["", "Training time below: the members' together" + ("." if len(timed) == len(cards) else
              f", of the {len(timed)} of {len(cards)} members whose folder records it.")]
    finish_run(
        method, out, preset, report, command, half=half, evaluate_tests=True, score_dev=True,
        training=lambda rep: {"soup_of": list(made_of)},
        card=lambda best, rep: model_card_text(
            replace(preset, description=f"Each member's recipe: {preset.description}"), command, model=best, seconds=rep["seconds"], intro="\n".join(lines),
            tables=[MeasuredTable("Measured (test sets; fractions in [0, 1])", {"dev": rep["dev"], **rep["test"]})],
        ),
    )


def soup_command(members: Sequence[str], out: str) -> str:
    """The CLI line that rebuilds a soup from its member folders."""
    import shlex

    return "python -m xsent_core soup --models " + " ".join(shlex.quote(m) for m in members) + f" --out {shlex.quote(out)}"



def greedy_members(dev_scores: Mapping[str, float], soup_dev: Callable[[Sequence[str]], float]) -> tuple[list[str], list[dict[str, Any]]]:
    """The "greedy soup" of Wortsman et al. (2022): members in order of their own dev score, each kept only if
    the soup with it scores at least as well on dev as the soup without it.

    `soup_dev(members)` scores the soup of `members` on the dev set. Returns (kept members, one step per
    candidate: {"member", "dev", "kept"}). Only dev is read, so test sets stay unseen by the choice.
    """
    order = sorted(dev_scores, key=lambda m: -dev_scores[m])
    kept, best = [order[0]], dev_scores[order[0]]
    steps: list[dict[str, Any]] = [{"member": order[0], "dev": best, "kept": True}]
    for member in order[1:]:
        dev = soup_dev([*kept, member])
        steps.append({"member": member, "dev": dev, "kept": dev >= best})
        if dev >= best:
            kept, best = [*kept, member], dev
    return kept, steps

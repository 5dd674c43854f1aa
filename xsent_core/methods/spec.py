"""What a method reads and shows, declared once on its class; the app builds
its inputs, menus and tabs from these declarations instead of method names.

Pure data: no Gradio, no models loaded to read a spec.
"""
from __future__ import annotations

from dataclasses import dataclass

INPUTS = frozenset({"text", "image", "translation"})
JOBS = frozenset({"distill", "rethink"})


@dataclass(frozen=True)
class MethodSpec:
    """A method's interface as the app sees it.

    `inputs`: "text" always; "image" when `predict` reads `Example.image`;
    "translation" when `explain(example, translation=...)` accepts an English
    translation of the input. `shows`: one line on what `explain()` draws
    (empty: nothing to inspect). `alignment_map`: its models carry a
    cross-lingual static-vector map the Alignment tab can plot. `jobs`: the
    store-driven training jobs whose base model can be of this method.
    """

    name: str
    task: str  # "sentence" | "spans"
    inputs: frozenset[str] = frozenset({"text"})
    shows: str = ""
    alignment_map: bool = False
    jobs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.task not in ("sentence", "spans"):
            raise ValueError(f"{self.name}: task must be 'sentence' or 'spans', got {self.task!r}")
        if "text" not in self.inputs or not self.inputs <= INPUTS:
            raise ValueError(f"{self.name}: inputs must include 'text' and lie in {sorted(INPUTS)}, got {sorted(self.inputs)}")
        if not self.jobs <= JOBS:
            raise ValueError(f"{self.name}: unknown jobs {sorted(self.jobs - JOBS)}")

    @property
    def reads_image(self) -> bool:
        return "image" in self.inputs

    @property
    def takes_translation(self) -> bool:
        return "translation" in self.inputs

    @property
    def inspectable(self) -> bool:
        return bool(self.shows)

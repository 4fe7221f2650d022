"""How much of a prompt the text encoder can use, found without tokenizing all of it.

CLIP reads ``model_max_length`` tokens (77 for Stable Diffusion: 75 plus begin / end) and cuts the
rest. A prompt is cut BEFORE it is tokenized, to a window that cannot hold more than one token past
the limit: a 10 MB prompt cost 48 s and 2.8 GB of tokenizing before, now the same few milliseconds
as any prompt, with the same embeddings (the encoder never read the rest). ``PromptEncoder`` gives
the encoder the cut text; the engine warns, naming the style, when part of a prompt is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from transformers import CLIPTokenizer

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class PromptFit:
    text: str  # what the encoder is given: whitespace collapsed (as CLIP does), cut to a bounded window
    tokens: int  # tokens in ``text`` (no begin / end tokens); more than ``limit`` means part is ignored
    limit: int  # tokens the encoder reads
    ignored: str  # the start of what it does not read ("" when the prompt fits)


def fit_prompt(tokenizer: CLIPTokenizer, text: str) -> PromptFit:
    """``text`` cut to what ``tokenizer``'s encoder can use (plus one token, to tell that it was cut).

    Work is bounded by the window, not by the length of ``text``: words are taken until the window
    of ``(limit + 1) * (longest token + 1)`` characters is full; every token covers at most the
    longest token's characters, so the first ``limit + 1`` tokens lie inside it (for a prompt of
    words; a single word longer than the window is cut inside the window).
    """
    limit = int(tokenizer.model_max_length) - 2
    window = (limit + 1) * (_longest_token(tokenizer) + 1)
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        if size >= window:
            break
        words.append(match.group())
        size += len(words[-1]) + 1
    cut = " ".join(words)[:window]
    ids = tokenizer(cut, add_special_tokens=False, truncation=False, verbose=False).input_ids
    ignored = " ".join(tokenizer.decode(ids[limit:limit + 12]).replace("</w>", " ").split()) if len(ids) > limit else ""
    return PromptFit(cut, len(ids), limit, ignored)


@lru_cache(maxsize=8)
def _longest_token(tokenizer: CLIPTokenizer) -> int:
    """The most characters one vocabulary token stands for (special tokens aside)."""
    special = set(tokenizer.all_special_tokens)
    return max((len(t.removesuffix("</w>")) for t in tokenizer.get_vocab() if t not in special), default=1)

"""The T5 tokenizer: the shared corpus's byte-level BPE plus T5's special tokens, so the corpus ids stay valid.

``acc.modeling.corpus`` trains one BPE (its first token, ``<|endoftext|>``, separates documents). T5 needs a pad
token (also the decoder start), an end-of-sequence token appended to every text, and sentinel tokens for span
corruption. We *append* ``<pad>`` and ``<extra_id_i>`` to that vocabulary and use ``<|endoftext|>`` as ``</s>``:
every token id in the saved corpus keeps its meaning, so the seq2seq model trains from the same files as the
causal one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from acc.profiles import DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"  # acc.modeling.corpus.EOS_TOKEN; repeated so this module imports without numpy work
PAD_TOKEN = "<pad>"
NUM_SENTINELS = 32


def sentinel_tokens(count: int = NUM_SENTINELS) -> list[str]:
    """``<extra_id_0>`` … : one per corrupted span (a 114-token window has about six)."""
    return [f"<extra_id_{i}>" for i in range(count)]


def t5_tokenizer(base: Tokenizer | str | Path, num_sentinels: int = NUM_SENTINELS) -> PreTrainedTokenizerFast:
    """Wrap a corpus BPE (object or ``tokenizer.json``) as a T5 tokenizer: ``</s>`` appended, pad and sentinels.

    The base must contain ``<|endoftext|>``; it becomes the eos token. A base that already has the T5 tokens
    (a saved checkpoint's tokenizer) is returned unchanged in content.
    """
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer.from_file(str(base)) if isinstance(base, (str, Path)) else Tokenizer.from_str(base.to_str())
    eos = tokenizer.token_to_id(EOS_TOKEN)
    if eos is None:
        raise DataError(f"tokenizer has no {EOS_TOKEN} token; build it with acc.modeling.corpus.train_tokenizer")
    sentinels = sentinel_tokens(num_sentinels)
    tokenizer.add_special_tokens([PAD_TOKEN, *sentinels])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}", pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}", special_tokens=[(EOS_TOKEN, eos)]
    )
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=sentinels,
        model_max_length=512,
    )


def sentinel_ids(tokenizer: PreTrainedTokenizerFast, count: int = NUM_SENTINELS) -> list[int]:
    """Ids of the sentinel tokens, in span order; a tokenizer without them is one clear error."""
    ids = tokenizer.convert_tokens_to_ids(sentinel_tokens(count))
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise DataError("tokenizer lacks <extra_id_i> sentinel tokens; build it with acc.modeling.seq2seq.t5_tokenizer")
    return [int(i) for i in ids]

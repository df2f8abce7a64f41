"""Write a tiny random-weight llama model as GGUF (a few hundred KB, no download).

Its vocabulary is the printable ASCII characters (SentencePiece style, with ``▁`` for the
space), three whitespace bytes, and ``<unk>``, ``<s>`` and ``</s>``, so whatever it samples is
printable text. The
weights are random: it produces real tokens through the real llama.cpp runtime, nonsense as
text, which is all a transport test needs.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_EMBD = 64
N_FF = 128
N_LAYERS = 2
N_HEAD = 4
N_CTX = 2048


#: byte-fallback tokens for the whitespace a chat template puts in prompts (llama.cpp's SPM
#: tokenizer needs a byte token for any character the vocabulary lacks)
BYTES = ["<0x09>", "<0x0A>", "<0x0D>"]


def vocabulary() -> list[str]:
    printable = [chr(c) for c in range(0x21, 0x7F)]
    return ["<unk>", "<s>", "</s>", "\u2581", *printable, *BYTES]


def write_tiny_llama(path: Path, seed: int = 0) -> Path:
    tokens = vocabulary()
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("llmring-tiny-random-llama")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYERS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    normal = [gguf.TokenType.NORMAL] * (len(tokens) - 3 - len(BYTES))
    writer.add_token_types(types + normal + [gguf.TokenType.BYTE] * len(BYTES))
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)

    def tensor(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))

    tensor("token_embd.weight", len(tokens), N_EMBD)
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    tensor("output.weight", len(tokens), N_EMBD)
    for layer in range(N_LAYERS):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"{prefix}.{name}.weight", N_EMBD, N_EMBD)
        tensor(f"{prefix}.ffn_gate.weight", N_FF, N_EMBD)
        tensor(f"{prefix}.ffn_up.weight", N_FF, N_EMBD)
        tensor(f"{prefix}.ffn_down.weight", N_EMBD, N_FF)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path

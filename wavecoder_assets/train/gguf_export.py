"""The fine-tuned model as one GGUF file, for llama.cpp (`llama-cli`, `llama-server`), llama-cpp-python and Ollama.

Tensor names: transformers' own GGUF reading map (`get_gguf_hf_weights_map`, built on gguf's TensorNameMap), in
reverse, so what this writes is what transformers reads back. Only architectures whose GGUF tensors are the HF
tensors as they are (e.g. qwen2): llama's q/k are permuted in GGUF and others are reshaped (transformers'
TENSOR_PROCESSORS), which this writer does not undo.

Metadata: the architecture's hyperparameters from the model's config; every other `<arch>.*` key and the whole
tokenizer (vocab, merges, token types, special token ids, chat template) copied from the base model's GGUF, so
llama.cpp tokenizes exactly as for the base.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import gguf
import numpy as np
import torch

# Measured on the 0.5B on 2 shared cores (bench/eval.py --backends, 8 HumanEval prompts): Q8_0 is about half F16's
# size (644 vs 1208 MiB) and generated a little faster (14.7 vs 13.6 tokens/s: a CPU reads every weight for each
# token); greedy answers the same as fp32 transformers' on 7 of 8 prompts (F16: 8 of 8).
GGUFTensorType = Literal["F16", "Q8_0"]
DEFAULT_GGUF_TENSOR_TYPE: GGUFTensorType = "Q8_0"
_QUANT = {"F16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
          "Q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)}


def gguf_file_name(model_name: str, tensor_type: GGUFTensorType = DEFAULT_GGUF_TENSOR_TYPE) -> str:
    return f"{model_name}-{tensor_type.lower()}.gguf"


def gguf_tensor_names(model: torch.nn.Module) -> dict[str, str]:
    """HF state-dict name -> GGUF tensor name, the reverse of the map transformers loads a GGUF with."""
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
    )

    model_type = model.config.model_type
    if model_type in TENSOR_PROCESSORS:
        raise NotImplementedError(f"GGUF export of {model_type!r}: its GGUF tensors are permuted or reshaped "
                                  f"(transformers' {TENSOR_PROCESSORS[model_type].__name__}); convert the saved "
                                  "folder with llama.cpp's convert_hf_to_gguf.py")
    return {hf: name for name, hf in get_gguf_hf_weights_map(model, TensorProcessor()).items()}


def _architecture_fields(config, arch: str) -> dict[str, tuple[object, gguf.GGUFValueType]]:
    """The llama-style hyperparameters llama.cpp needs, as convert_hf_to_gguf.py writes them."""
    u32, f32 = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32
    llm, attention = gguf.Keys.LLM, gguf.Keys.Attention
    fields = {llm.CONTEXT_LENGTH: (config.max_position_embeddings, u32), llm.EMBEDDING_LENGTH: (config.hidden_size, u32),
              llm.BLOCK_COUNT: (config.num_hidden_layers, u32), llm.FEED_FORWARD_LENGTH: (config.intermediate_size, u32),
              attention.HEAD_COUNT: (config.num_attention_heads, u32),
              attention.HEAD_COUNT_KV: (config.num_key_value_heads, u32),
              attention.LAYERNORM_RMS_EPS: (config.rms_norm_eps, f32)}
    rope_theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or getattr(config, "rope_theta", None)
    if rope_theta is not None:
        fields[gguf.Keys.Rope.FREQ_BASE] = (float(rope_theta), f32)
    return {key.format(arch=arch): value for key, value in fields.items()}


def _base_fields(base: gguf.GGUFReader, arch: str) -> dict[str, tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]]:
    """The base GGUF's `<arch>.*` and `tokenizer.*` keys, with their value types."""
    fields = {}
    for key, field in base.fields.items():
        if key.startswith(("tokenizer.", f"{arch}.")):
            vtype = gguf.GGUFValueType(field.types[0])
            sub_type = gguf.GGUFValueType(field.types[-1]) if vtype == gguf.GGUFValueType.ARRAY else None
            fields[key] = (field.contents(), vtype, sub_type)
    return fields


def _tensor_data(tensor: torch.Tensor, qtype: gguf.GGMLQuantizationType) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    """1-D tensors (norms, biases) stay F32, as llama.cpp expects; a row that does not split into Q8_0's blocks
    of 32 goes F16."""
    data = tensor.detach().to(torch.float32).cpu().numpy()
    if data.ndim == 1:
        return data, gguf.GGMLQuantizationType.F32
    if qtype == gguf.GGMLQuantizationType.Q8_0 and data.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
        qtype = gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(data, qtype), qtype


def write_gguf(model: torch.nn.Module, out_path: Path, *, base_gguf: Path, model_name: str,
               tensor_type: GGUFTensorType = DEFAULT_GGUF_TENSOR_TYPE) -> Path:
    """Write `model`'s weights as `out_path` (atomically: a temp file beside it, then renamed), with the base GGUF's
    tokenizer. Tied embeddings write no output tensor: llama.cpp then uses token_embd, as transformers does."""
    names = gguf_tensor_names(model)
    arch = model.config.model_type  # a gguf arch name: gguf_tensor_names found it among them
    qtype, file_type = _QUANT[tensor_type]
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        writer.add_name(model_name)
        own = _architecture_fields(model.config, arch)
        for key, (value, vtype, sub_type) in _base_fields(gguf.GGUFReader(base_gguf), arch).items():
            if key not in own:  # the config is the model's own: it wins where both say something
                writer.add_key_value(key, value, vtype, sub_type)
        for key, (value, vtype) in own.items():
            writer.add_key_value(key, value, vtype)
        writer.add_file_type(file_type)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        tied = getattr(model.config, "tie_word_embeddings", False)
        for hf_name, tensor in model.state_dict().items():
            if tied and hf_name == "lm_head.weight":
                continue
            if hf_name not in names:
                raise ValueError(f"no GGUF name for tensor {hf_name!r} of {model.config.model_type}")
            data, dtype = _tensor_data(tensor, qtype)
            writer.add_tensor(names[hf_name], data, raw_dtype=dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path

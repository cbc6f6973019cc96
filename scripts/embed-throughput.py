#!/usr/bin/env python3
"""Embedding throughput of onnxruntime's own Python binding on the same model, texts,
threads and token limit as az-os (benches/knowledge.rs writes the texts), for the
"within 1.5x of onnxruntime" target.

    pip install onnxruntime==1.31.1 tokenizers numpy
    python3 scripts/embed-throughput.py TEXTS.json MODEL_DIR [THREADS] [MAX_TOKENS]

MODEL_DIR is the folder `az-os index --fetch-model` fills (model.onnx, tokenizer.json).
Like az-os: texts sorted by length, batches of 16, padded to the batch's longest, mean
pooling over the attention mask.
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main():
    texts = json.load(open(sys.argv[1]))
    model_dir = sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    max_tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.enable_truncation(max_tokens)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(f"{model_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def embed(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = sess.run(None, feeds)[0]
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    ordered = sorted(texts, key=len)
    embed(ordered[:4])
    start = time.perf_counter()
    for i in range(0, len(ordered), 16):
        embed(ordered[i : i + 16])
    secs = time.perf_counter() - start
    print(
        f"onnxruntime (Python) {ort.__version__}: {len(texts)} chunks at <= {max_tokens} tokens, "
        f"{threads} thread(s): {len(texts) / secs:.1f} chunks/s"
    )


if __name__ == "__main__":
    main()

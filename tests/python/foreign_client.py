#!/usr/bin/env python3
"""A gRPC client this team did not write, against the real server.

Starts `target/debug/undertone serve` on a free loopback port with a temporary data folder,
lists the services through gRPC reflection, then calls them through stubs that grpcio-tools
generates from proto/ at run time. Exits non-zero on the first failed check.

    .cache/venv/bin/python tests/python/foreign_client.py [path/to/undertone]
"""
import os
import pathlib
import subprocess
import sys
import tempfile

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The end-to-end tests' admin key (tests/support/api-keys.toml holds its hash).
API_KEY = "ut_e2eadmin_0123456789abcdef0123456789abcdef"
TENANT = (("x-tenant-id", "python-client"), ("authorization", f"Bearer {API_KEY}"))


def generate_stubs(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, str(out))


def start_server(binary: str, data: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, UNDERTONE_LISTEN="127.0.0.1:0", UNDERTONE_METRICS_LISTEN="off",
               UNDERTONE_DATA_DIR=data, UNDERTONE_LOG="warn",
               UNDERTONE_API_KEYS_FILE=str(ROOT / "tests/support/api-keys.toml"))
    env.pop("UNDERTONE_AUTH", None)
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("undertone listening on "):
            return proc, line.split()[-1]
    raise SystemExit("server exited before listening")


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/undertone")
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        generate_stubs(pathlib.Path(tmp) / "stubs")
        from undertone.v1 import ingest_pb2, ingest_pb2_grpc, insights_pb2, insights_pb2_grpc
        from undertone.v1 import common_pb2, sentiment_pb2, sentiment_pb2_grpc

        proc, addr = start_server(binary, str(pathlib.Path(tmp) / "data"))
        try:
            channel = grpc.insecure_channel(addr)
            grpc.channel_ready_future(channel).result(timeout=30)

            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            reply = next(reflection.ServerReflectionInfo(iter([request])))
            services = {s.name for s in reply.list_services_response.service}
            expected = {"undertone.v1.IngestService", "undertone.v1.SentimentService", "undertone.v1.InsightsService",
                        "grpc.health.v1.Health"}
            checks.append(("reflection lists the services", expected <= services))

            sentiment = sentiment_pb2_grpc.SentimentServiceStub(channel)
            analyzed = sentiment.Analyze(sentiment_pb2.AnalyzeRequest(
                texts=["This is terrible: the export keeps failing and we are extremely unhappy with your support.",
                       "Your team was fantastic during the rollout, thank you!"]), metadata=TENANT)
            labels = [r.sentiment.label for r in analyzed.results]
            checks.append(("Analyze scores a complaint negative and praise positive",
                           labels == [common_pb2.SENTIMENT_LABEL_NEGATIVE, common_pb2.SENTIMENT_LABEL_POSITIVE]))

            ingest = ingest_pb2_grpc.IngestServiceStub(channel)
            stored = ingest.IngestMessage(ingest_pb2.IngestMessageRequest(
                account_id="globex", external_id="py-1", role=common_pb2.SPEAKER_ROLE_CUSTOMER,
                text="Our finance team found a duplicate charge on the September invoice."), metadata=TENANT)
            checks.append(("IngestMessage stores the message", stored.segments_stored == 1))

            insights = insights_pb2_grpc.InsightsServiceStub(channel)
            found = insights.SearchEvidence(insights_pb2.SearchEvidenceRequest(query="billing mistake"), metadata=TENANT)
            checks.append(("SearchEvidence finds it", [h.document_id for h in found.hits] == ["py-1"]))

            try:
                sentiment.Analyze(sentiment_pb2.AnalyzeRequest(texts=["hello"]), metadata=TENANT[:1])
                checks.append(("a call without an API key is refused", False))
            except grpc.RpcError as err:
                checks.append(("a call without an API key is refused",
                               err.code() == grpc.StatusCode.UNAUTHENTICATED and "authorization" in err.details()))

            # Bytes that are not protobuf, and a string field that is not UTF-8, are the
            # caller's fault: INVALID_ARGUMENT, and the server keeps serving.
            raw = channel.unary_unary("/undertone.v1.IngestService/IngestMessage",
                                      request_serializer=lambda b: b, response_deserializer=lambda b: b)
            for name, payload in [("bytes that are not protobuf", b"\xff\xff\xff\xff"),
                                  ("a string field that is not UTF-8", b"\x0a\x02\xff\xfe")]:
                try:
                    raw(payload, metadata=TENANT)
                    checks.append((f"refused as INVALID_ARGUMENT: {name}", False))
                except grpc.RpcError as err:
                    checks.append((f"refused as INVALID_ARGUMENT: {name}",
                                   err.code() == grpc.StatusCode.INVALID_ARGUMENT and "request:" in err.details()))
            again = insights.SearchEvidence(insights_pb2.SearchEvidenceRequest(query="billing mistake"), metadata=TENANT)
            checks.append(("the server serves after hostile bytes", len(again.hits) == 1))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    failed = [name for name, ok in checks if not ok]
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"python client: {len(checks) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

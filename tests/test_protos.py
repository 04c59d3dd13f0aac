"""The committed stubs match the .proto files, and the contracts follow our conventions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmrouter.v1 import (
    chat_pb2,
    metrics_service_pb2,
    router_admin_service_pb2,
    router_service_pb2,
)

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "protos" / "llmrouter" / "v1"


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    protos = sorted(PROTO_DIR.glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'protos'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *map(str, protos),
        ],
        check=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    committed = sorted(p.relative_to(ROOT / "protos") for p in PROTO_DIR.glob("*_pb2*.py*"))
    assert generated == committed, "run `make protos` and commit the result"
    stale = [
        str(p)
        for p in generated
        if (tmp_path / p).read_bytes() != (ROOT / "protos" / p).read_bytes()
    ]
    assert not stale, f"stubs drifted from the .proto files: {stale}; run `make protos`"


def test_enums_and_rpcs_follow_buf_standard() -> None:
    for module in (chat_pb2, metrics_service_pb2, router_service_pb2, router_admin_service_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            prefix = "".join("_" + c if c.isupper() else c.upper() for c in enum.name).lstrip("_")
            assert enum.values[0].name == f"{prefix}_UNSPECIFIED"
            assert all(v.name.startswith(prefix + "_") for v in enum.values)
        for service in module.DESCRIPTOR.services_by_name.values():
            assert service.name.endswith("Service")
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"
    assert chat_pb2.DESCRIPTOR.package == "llmrouter.v1"

"""Generate quiltpb/ from protos/ with grpcio-tools (run by `make setup`; never edit the output)."""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    protos = sorted((ROOT / "protos").rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = ["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={ROOT}",
            f"--grpc_python_out={ROOT}", f"--pyi_out={ROOT}"] + [str(p) for p in protos]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for folder in {p.parent.relative_to(ROOT / "protos") for p in protos}:
        for part in range(1, len(folder.parts) + 1):
            (ROOT / Path(*folder.parts[:part]) / "__init__.py").touch()
    print(f"generated {len(protos)} proto files into quiltpb/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

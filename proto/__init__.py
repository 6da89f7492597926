"""The gRPC contracts (`*.proto`) and their generated stubs (`scripts/gen_protos.py`)."""

"""The router service: classifies requests, walks fallback chains, reports usage."""

import os

# Learned routing's numpy work is one matrix-vector product per request, on the event loop:
# OpenBLAS's worker threads cost more than they give there (20,000 x 256 float32: 1.7-2.4 ms
# on one thread, 12-15 ms on two busy cores) and would compete with the loop. Set before
# numpy is first imported (by router_svc.learned); an operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__: list[str] = []

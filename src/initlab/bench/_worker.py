"""One whole-model case in a fresh process: prints one JSON line (ms, peak MB, compile ms).

Run by :func:`initlab.bench._models.model_records`; not a user entry point.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import torch

from initlab.bench._models import METHODS, ModelCase, build, memory_mb, model_bytes
from initlab.rules import init_model


def _initialize(case: ModelCase, method: str, device: str, tiny: bool = False) -> None:
    with torch.device("meta"):
        model = build(case, 64, 1) if tiny else build(case)
    if method == "reset_parameters":
        model.to_empty(device=device)
        with torch.no_grad():
            for module in model.modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
    else:
        rng = method.rpartition("=")[2]
        init_model(model, case.preset, seed=0, device=device, rng=rng)
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _seconds(case: ModelCase, method: str, device: str, tiny: bool = False) -> float:
    start = time.perf_counter()
    _initialize(case, method, device, tiny)
    elapsed = time.perf_counter() - start
    gc.collect()
    return elapsed


def main(request: str) -> int:
    spec = json.loads(request)
    case, method, device = ModelCase(**spec["case"]), spec["method"], spec["device"]
    if method not in METHODS:
        raise SystemExit(f"method={method!r} is not one of {METHODS}")
    compile_s = _seconds(case, method, device, tiny=True)
    resident_before = memory_mb("VmRSS")
    best = min(_seconds(case, method, device) for _ in range(spec["repeats"]))
    with torch.device("meta"):
        size = model_bytes(build(case))
    cuda = device.startswith("cuda")
    # CPU: growth of the resident set over the process before the model (torch, initlab).
    peak = (
        torch.cuda.max_memory_allocated() / 2**20 if cuda else memory_mb("VmHWM") - resident_before
    )
    result = {"ms": best * 1e3, "compile_ms": compile_s * 1e3, "peak_mb": peak,
              "model_mb": size / 2**20}  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))

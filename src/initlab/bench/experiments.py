"""Vectorized sweep vs a sequential loop of the same runs: 16 small MLPs on circles.

Prints both wall times and the speed-up; the results are checked equal first.
Run: ``python -m initlab.bench.experiments [--steps N] [--threads N]``
"""

from __future__ import annotations

import argparse
import time

import torch

from initlab.experiments import (
    Init,
    Stack,
    TrainSpec,
    initialized,
    load_dataset,
    mlp,
    train,
    train_sequential,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("circles", binary=True)
    seeds = list(range(args.runs))
    models = [initialized(mlp((2, 10, 5, 1)), Init("he_normal"), s, "bench") for s in seeds]
    spec = TrainSpec(lr=0.01, steps=args.steps, log_every=args.steps)
    # Warm both paths up first (allocator, autograd and optimizer set-up), then take the
    # best of --repeats alternating rounds so a load spike on a shared machine does not decide.
    warm = TrainSpec(lr=0.01, steps=5, log_every=5)
    train(Stack(models), data, warm, seeds)
    train_sequential(models[:2], data, warm, seeds[:2])
    t_vec = t_seq = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        vec = train(Stack(models), data, spec, seeds)
        t_vec = min(t_vec, time.perf_counter() - start)
        start = time.perf_counter()
        seq = train_sequential(models, data, spec, seeds)
        t_seq = min(t_seq, time.perf_counter() - start)
    for key in vec.metrics:
        torch.testing.assert_close(vec.metrics[key], seq.metrics[key], rtol=1e-4, atol=1e-5)
    print(
        f"{args.runs} MLPs [2,10,5,1] x {args.steps} full-batch steps, {torch.get_num_threads()} thread(s)"  # noqa: E501
    )
    print(f"vectorized {t_vec:.2f} s, sequential {t_seq:.2f} s, speed-up {t_seq / t_vec:.1f}x")


if __name__ == "__main__":
    main()

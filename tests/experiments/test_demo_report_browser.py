"""Open a demo-style report in headless Chromium and check that its figures render."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch

from initlab.experiments import run_experiment, write_results

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Replaces every <img> that decoded to a real picture with a marker paragraph.
CHECK = (
    "<script>addEventListener('load',()=>{const i=[...document.images];"
    "document.title='IMAGES '+i.length+' DECODED '+i.filter(x=>x.complete&&x.naturalWidth>100).length;"  # noqa: E501
    "const p=document.createElement('pre');p.id='result';p.textContent=document.title;"
    "document.body.prepend(p);});</script>"
)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_figures_render_in_chromium(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = [
            run_experiment("orthogonal", width=16, depths=[1, 8]),
            run_experiment("symmetry", train={"steps": 50, "log_every": 25}),
        ]
    finally:
        torch.set_num_threads(threads)
    html_path, _ = write_results(results, tmp_path / "report", title="browser check")
    page = html_path.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>")
    html_path.write_text(page, encoding="utf-8")
    n_figures = page.count("<img ")
    command = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        html_path.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"IMAGES {n_figures} DECODED {n_figures}" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'p2'}",
            f"--screenshot={shot}",
            "--window-size=1100,3000",
            html_path.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000

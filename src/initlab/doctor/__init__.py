"""``initlab doctor``: signal propagation at initialization, layer by layer, with verdicts.

One probe forward and one backward record, per module call and functional
activation in execution order, the activation statistics, the gradient norms,
the weight spectra and symmetry, and an estimate of the input–output Jacobian's
singular values. Verdicts are computed from those tidy records; the terminal
table, JSON/CSV files and the HTML report only read them.
"""

from initlab.doctor._compare import compare
from initlab.doctor._config import DoctorConfig, ProbeSpec, Thresholds
from initlab.doctor._diagnose import diagnose
from initlab.doctor._probe import infer_spec
from initlab.doctor._records import Diagnosis, Finding, StatRecord, write_records
from initlab.doctor._render import render_html, render_table, write_html

__all__ = [
    "Diagnosis",
    "DoctorConfig",
    "Finding",
    "ProbeSpec",
    "StatRecord",
    "Thresholds",
    "compare",
    "diagnose",
    "infer_spec",
    "render_html",
    "render_table",
    "write_html",
    "write_records",
]

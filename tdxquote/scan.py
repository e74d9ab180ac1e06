"""Scanning quote corpora: the engine of ``tdxquote scan``, as a library.

The unit of work is :func:`scan_batch`, a plain function of picklable
arguments (a list of paths, or of ``(name, bytes)`` pairs) that returns a
:class:`ScanReport`; reports of consecutive batches add up with
:meth:`ScanReport.merge`.  ``tdxquote scan`` runs it over batches of
:data:`CHUNK_SIZE` files in worker processes (:func:`scan_paths`); any other
engine can run it the same way, for instance Dask across machines (see
``docs/performance.md``)::

    from tdxquote.scan import ScanReport, scan_batch

    report = ScanReport()
    for batch in batches:  # consecutive slices of the corpus, in order
        report.merge(scan_batch(batch))
    report.to_dict()  # what ``tdxquote scan --json`` prints
"""

from __future__ import annotations

from ._scan import (
    CHUNK_SIZE,
    DEFAULT_MAX_SIZE,
    PlatformCache,
    ScanFailure,
    ScanItem,
    ScanReport,
    iter_corpus,
    scan_batch,
    scan_paths,
)

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_SIZE",
    "PlatformCache",
    "ScanFailure",
    "ScanItem",
    "ScanReport",
    "iter_corpus",
    "scan_batch",
    "scan_paths",
]

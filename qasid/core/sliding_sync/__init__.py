"""Simplified Sliding Sync (MSC4186), the sync Element X speaks: see service.py."""

from __future__ import annotations

from qasid.core.sliding_sync.extensions import Extensions
from qasid.core.sliding_sync.request import SlidingSyncRequest, parse_request
from qasid.core.sliding_sync.service import SlidingSyncService

__all__ = ["Extensions", "SlidingSyncRequest", "SlidingSyncService", "parse_request"]

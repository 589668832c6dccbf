from __future__ import annotations

from tests.gov.conftest import gov

__all__ = ["gov"]

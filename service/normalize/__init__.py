"""The normalizer: a pure core that turns a bundle's text into a clean article (SPEC 3)."""

from service.normalize.page import NORMALIZER_VERSION, LineDecision, Page, explain, normalize

__all__ = ["NORMALIZER_VERSION", "LineDecision", "Page", "explain", "normalize"]

"""Drill mode: ask a corpus question, grade the learner's answer, schedule the next review."""

from assistant.drill.session import DrillQuestion, DrillResult, DrillSession
from assistant.drill.store import DrillStore, DrillStoreError

__all__ = ["DrillQuestion", "DrillResult", "DrillSession", "DrillStore", "DrillStoreError"]

"""Browser chat (Gradio) over ``StudyAssistant``: ``build_app(assistant)`` builds, ``launch`` serves.

Gradio is imported only inside ``build_app`` so ``import ui`` stays light.
"""

from ui.app import build_app, launch
from ui.chat import ChatHandlers
from ui.drill import DrillHandlers

__all__ = ["ChatHandlers", "DrillHandlers", "build_app", "launch"]

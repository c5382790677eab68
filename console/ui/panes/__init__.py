"""The panes: a shared base (`base.py`) and one module per pane. A new pane is one module and one line below."""

from __future__ import annotations

from .base import Drill, ObjRef, PaneContext, PaneModel
from .events import EventsPane
from .gpus import GpusPane
from .inference import InferencePane
from .local import LocalPane
from .nodes import NodesPane
from .projects import ProjectsPane
from .workloads import WorkloadsPane

PANES: dict[str, type[PaneModel]] = {p.name: p for p in (
    ProjectsPane,
    GpusPane,
    WorkloadsPane,
    NodesPane,
    EventsPane,
    LocalPane,
    InferencePane,
)}

__all__ = ["PANES", "Drill", "ObjRef", "PaneContext", "PaneModel"]

"""The panes: a shared base (`base.py`) and one module per pane. A new pane is one module and one line below."""

from __future__ import annotations

from .base import Drill, ObjRef, PaneContext, PaneModel
from .events import EventsPane
from .gpus import GpusPane
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
)}

__all__ = ["PANES", "Drill", "ObjRef", "PaneContext", "PaneModel"]

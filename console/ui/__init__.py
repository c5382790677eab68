"""The console's Textual screens, pane models and helpers (the UI side of `console.app`)."""

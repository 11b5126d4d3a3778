"""The Textual face: app.py, screens/, widgets/, logic/ (view logic without Textual), demo/."""

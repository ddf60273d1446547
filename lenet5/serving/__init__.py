"""Serving: the export formats (exporters), running each of them (runtimes), a user's picture as
the model's input (digits), `lenet5-predict` (predict), and the draw-a-digit page (webpage)."""

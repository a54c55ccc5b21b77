"""Report stage: turns results into what people read (terminal text, JSON, Markdown/HTML, SVG figures, CSV)."""

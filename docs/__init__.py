"""The user documentation's generated parts (`python -m docs.generate`); the rest is Markdown."""

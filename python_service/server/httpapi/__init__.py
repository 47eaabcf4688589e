"""The HTTP adapter: the Flask app over the core, the RSGI front granian runs it behind, and the
one builder of every HTTP error answer (errors.py)."""

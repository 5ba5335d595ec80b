"""The HTTP server: FastAPI app (``tooldeck serve``) and its web page."""

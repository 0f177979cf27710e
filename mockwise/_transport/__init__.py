"""Transport: how bytes reach the ASGI app, over real sockets (uvicorn) or in process (httpx)."""

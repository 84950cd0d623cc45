"""The baseline server: the same pydantic event model served bare by FastAPI and uvicorn.

Run by bench_ingest.py as `python bench/bare_app.py PORT`, with the uvicorn settings
`nurture serve` uses, so a ratio against it is what nurture adds to the framework.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from service.schemas import EventsIn

app = FastAPI()


@app.post("/events", status_code=202)
async def post_events(body: EventsIn) -> dict[str, object]:
    """Parse and validate, answer like an accepting endpoint, store nothing."""
    return {"results": [{"id": event.id, "status": "accepted"} for event in body.events]}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        timeout_graceful_shutdown=10,
    )

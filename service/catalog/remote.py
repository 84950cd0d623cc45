"""`nurture reload`: asks the running service to reload its journeys, over its HTTP API, so
the one process that validates and publishes is the one serving requests."""

from __future__ import annotations

from typing import Any, TextIO

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def _summary(report: dict[str, Any]) -> list[str]:
    lines = [f"generation {report['generation']}" + ("" if report["changed"] else " (unchanged)")]
    for item in report["new_versions"]:
        was = f"{item['previous']} -> " if item["previous"] else "new journey, "
        lines.append(f"  new version   {item['journey']}: {was}{item['version']}")
    for item in report["unchanged"]:
        lines.append(f"  unchanged     {item['journey']}: {item['version']}")
    for item in report["removed"]:
        lines.append(
            f"  removed       {item['journey']}: {item['version']}"
            f" ({item['active']} enrolled contact(s) finish on it)"
        )
    return lines


def run_reload(
    *, url: str, api_key: str | None, out: TextIO, transport: httpx.BaseTransport | None = None
) -> int:
    """CLI body: POST /journeys/reload; prints what changed, or every file:line problem and
    exit code 1; 2 when the service cannot be reached."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(base_url=url, transport=transport, timeout=60) as client:
            response = client.post("/journeys/reload", headers=headers)
    except httpx.HTTPError as exc:
        out.write(f"cannot reach the service at {url}: {exc}\n")
        return 2
    try:
        body = response.json()
    except ValueError:
        body = {"error": "http_error", "detail": response.text}
    if response.status_code == 200:
        out.write("\n".join(_summary(body)) + "\n")
        return 0
    detail = body.get("detail")
    problems = detail if isinstance(detail, list) else [detail]
    for problem in problems:
        out.write(f"{problem if isinstance(problem, str) else problem.get('message')}\n")
    out.write(f"nothing reloaded ({response.status_code} {body.get('error')})\n")
    return 1

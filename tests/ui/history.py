"""A known history of the wedding story, built through the real API and the scheduler on
the fake clock, and the figures it must produce."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from tests.factories import Harness, event, signup

WEDDING = {"first_name": "Ava", "wedding_date": "2026-06-20"}


@dataclass(frozen=True)
class History:
    """Contact ids by first name, and ids of the messages the tests open."""

    ids: dict[str, str]
    ava_welcome: str
    dee_sms: str


def _bride(name: str, phone: str | None = None) -> dict[str, object]:
    email = f"{name}@example.com"
    contact = {"email": email, **({"phone": phone} if phone else {})}
    return signup(email, attributes={**WEDDING, "first_name": name.title()}, contact=contact)


async def _message(harness: Harness, contact_id: str, stage: str) -> str:
    messages = (await harness.client.get(f"/contacts/{contact_id}/messages")).json()
    return str(next(m["id"] for m in messages if m["stage"] == stage))


async def build(harness: Harness) -> History:
    """Six brides: Ava clicks through at 1s, Bea converts and Cat unsubscribes at 2s, Dee and
    Eve move on by the 3s timer, Dee orders favors at 10s, gets
    a text and completes at 12s, Eve opens her
    favors email, Fay signs up at 12s and no scheduler runs for her timer for ten minutes."""
    post, clock = harness.post_events, harness.clock
    names = ["ava", "bea", "cat", "dee", "eve"]
    for name in names:
        phone = "+15555550104" if name == "dee" else None
        assert (await post(_bride(name, phone))).status_code == 200
    await harness.run_scheduler()
    ids = {name: (await harness.contact(f"{name}@example.com"))["id"] for name in names}
    ava_welcome = await _message(harness, ids["ava"], "welcome")
    clock.advance(seconds=1)
    clicked = event(
        "email.clicked",
        email="ava@example.com",
        properties={"link": "favors", "message_id": ava_welcome},
    )
    await post(clicked)
    clock.advance(seconds=1)
    await post(
        event(
            "order.completed",
            email="bea@example.com",
            properties={"categories": ["thank-you-cards"]},
        )
    )
    await post(event("email.unsubscribed", email="cat@example.com"))
    clock.advance(seconds=1)
    await harness.run_scheduler()
    eve_favors = await _message(harness, ids["eve"], "favors")
    for kind in ("email.delivered", "email.opened"):
        await post(event(kind, email="eve@example.com", properties={"message_id": eve_favors}))
    clock.advance(seconds=7)
    await post(
        event("order.completed", email="dee@example.com", properties={"categories": ["favors"]})
    )
    await harness.run_scheduler()
    clock.advance(seconds=2)
    await harness.run_scheduler()
    assert (await post(_bride("fay"))).status_code == 200
    ids["fay"] = (await harness.contact("fay@example.com"))["id"]
    clock.advance(minutes=10)
    dee_sms = await _message(harness, ids["dee"], "thank_you")
    return History(ids=ids, ava_welcome=ava_welcome, dee_sms=dee_sms)


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page has no form token"
    return found.group(1)


def part(page: httpx.Response, element_id: str) -> str:
    """The markup from the element with this id to the end of its table, list, svg or pre."""
    start = page.text.find(f'id="{element_id}"')
    assert start >= 0, f"no element {element_id}"
    ends = [
        page.text.find(end, start) for end in ("</table>", "</dl>", "</ol>", "</svg>", "</pre>")
    ]
    return page.text[start : min(e for e in ends if e >= 0)]


def figure(page: httpx.Response, name: str, *, within: str, row: str | None = None) -> str:
    """The text of the `data-figure` cell named `name` in the element `within`, in the row
    (`data-stage` or `data-journey`) given."""
    text = part(page, within)
    if row is not None:
        start = re.search(rf'data-(?:stage|journey)="{re.escape(row)}"', text)
        assert start, f"no row {row} in {within}"
        text = text[start.end() : text.find("</tr>", start.end())]
    found = re.search(rf'data-figure="{re.escape(name)}">([^<]*)<', text)
    assert found, f"no figure {name} in {within}"
    return found.group(1).strip()

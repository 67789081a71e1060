"""Any outbox a guest can return ends in frames routed or in one of two
exit kinds (``protocol``, ``limit``), never in another exception: the
router driven with hypothesis-made outboxes against a real host."""

from __future__ import annotations

from pathlib import Path

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostkit
from hostkit._frames import frame

kinds = st.sampled_from(b"srnxqcuA?")
small_ids = st.integers(min_value=0, max_value=8) | st.integers(min_value=0, max_value=2**64 - 1)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@st.composite
def outboxes(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            kind = bytes([draw(kinds)])
            payload = draw(texts | st.sampled_from(["echo\n", "nope\nargs", "normal"]))
            parts.append(frame(kind, draw(small_ids), draw(small_ids), payload.encode()))
        else:
            parts.append(draw(texts).encode())  # garbage between frames
    return b"".join(parts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(out=outboxes())
def test_any_outbox_routes_or_ends_the_actor_cleanly(
    out: bytes, wasm: dict[str, Path], cache_dir: Path
) -> None:
    async def main() -> None:
        cfg = hostkit.HostConfig(scheduler_threads=1, cache_dir=cache_dir)
        async with hostkit.open_host(cfg) as host:
            echo = host.load(wasm["echo"])
            pid = await host.spawn(echo)
            actor = host._sched.actors[pid.id]
            host._router.route_outbox(actor, out)  # must not raise
            reason = actor.reason
            assert reason is None or reason.kind in ("protocol", "limit")
            assert host._router.queued_bytes() >= 0

    trio.run(main)

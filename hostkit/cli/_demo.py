"""``hostkit demo``: a real host, real components, a few seconds of actors."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option(
    "--plugins",
    "plugin_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory with built components (default: plugins/build of this checkout).",
)
@click.option("--ring-size", default=100, show_default=True, help="Actors in the ring.")
@click.option("--hops", default=1000, show_default=True, help="Hops per token.")
def demo(plugin_dir: Path | None, ring_size: int, hops: int) -> None:
    """Spawn a ring of sandboxed actors, pass tokens, then show a crash and a kill."""
    import trio

    if plugin_dir is None:
        plugin_dir = Path(__file__).resolve().parents[2] / "plugins" / "build"
    missing = [
        n for n in ("echo", "ring", "loop", "trap") if not (plugin_dir / f"{n}.wasm").exists()
    ]
    if missing:
        raise click.ClickException(
            f"components {', '.join(missing)} not found in {plugin_dir}; "
            "build them with: python plugins/build.py"
        )
    trio.run(_demo, plugin_dir, ring_size, hops)


async def _demo(plugin_dir: Path, ring_size: int, hops: int) -> None:
    import trio

    import hostkit

    say = click.echo
    cfg = hostkit.HostConfig(activation_timeout=1.0)
    async with hostkit.open_host(cfg) as host:
        echo = host.load(plugin_dir / "echo.wasm")
        ring = host.load(plugin_dir / "ring.wasm")
        say(f"loaded {echo!r} and {ring!r}")
        pid = await host.spawn(echo, name="echo")
        say(f"call {pid} 'hello, sandbox' -> {await host.call(pid, 'hello, sandbox')!r}")

        pids = [await host.spawn(ring) for _ in range(ring_size)]
        for a, b in zip(pids, pids[1:] + pids[:1], strict=True):
            host.send(a, f"N{b.id:016x}")
        started = time.perf_counter()
        for p in pids:
            host.send(p, f"T{hops:08x}")
        done = 0
        while done < ring_size:
            await trio.sleep(0.02)
            done = sum([int(await host.call(p, "finished")) for p in pids])
        elapsed = time.perf_counter() - started
        total = ring_size * hops
        say(
            f"ring of {ring_size} actors: {total} hops in {elapsed:.2f} s "
            f"({elapsed / total * 1e6:.2f} us per hop)"
        )

        crasher = await host.spawn(host.load(plugin_dir / "trap.wasm"))
        host.send(crasher, "trap")
        say(f"{crasher} trapped: {await host.wait(crasher)}")
        spinner = await host.spawn(host.load(plugin_dir / "loop.wasm"))
        host.send(spinner, "spin")
        await trio.sleep(0.05)
        t0 = time.perf_counter()
        host.kill(spinner)
        reason = await host.wait(spinner)
        say(
            f"{spinner} spinning in wasm, killed in {(time.perf_counter() - t0) * 1e3:.1f} ms: "
            f"{reason}"
        )
        say(f"echo still answers: {await host.call(pid, 'still here')!r}")
    say("host closed: every actor stopped, every thread joined")

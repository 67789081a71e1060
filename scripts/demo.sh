#!/usr/bin/env bash
# The first thing to run: sets up .venv, builds the game-mods example's two
# Python mods (cached; the first build takes a minute or two), then plays
# three seconds of the game with a well-behaved and a hostile mod. Nothing
# to start by hand; everything runs in this one process. Extra arguments go
# to the game (e.g. --seconds 5).
source "$(dirname "$0")/_venv.sh"
.venv/bin/python examples/build.py goblins griefer
exec .venv/bin/python examples/game_mods/game.py "$@"

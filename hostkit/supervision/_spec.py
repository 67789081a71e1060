"""Child specs and supervisor flags: OTP's vocabulary as validated, frozen values.

Everything here is checked when it is built: a bad spec raises
:class:`~hostkit._errors.SupervisorSpecError` naming the field, so a supervisor
never starts with half a configuration. Strings are accepted wherever an enum
is expected (``restart="transient"``, ``strategy="rest_for_one"``) and are
converted on construction; the stored attribute is always the enum member.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from .._errors import SupervisorSpecError


class Restart(enum.Enum):
    """When a child that ended is started again."""

    #: Always restarted.
    PERMANENT = "permanent"
    #: Restarted only after an abnormal exit (not ``normal`` or ``shutdown``).
    TRANSIENT = "transient"
    #: Never restarted; removed from the supervisor once it ends.
    TEMPORARY = "temporary"


class Strategy(enum.Enum):
    """Which children a restart affects."""

    #: Restart only the child that ended.
    ONE_FOR_ONE = "one_for_one"
    #: Stop every other child (reverse start order), then restart them all in order.
    ONE_FOR_ALL = "one_for_all"
    #: Stop the children started after the one that ended, then restart it and them.
    REST_FOR_ONE = "rest_for_one"


class AutoShutdown(enum.Enum):
    """Whether the supervisor shuts itself down when *significant* children end."""

    #: Never; significant children are rejected (as OTP does).
    NEVER = "never"
    #: As soon as any significant child ends and is not restarted.
    ANY_SIGNIFICANT = "any_significant"
    #: Once every significant child has ended and none will be restarted.
    ALL_SIGNIFICANT = "all_significant"


class Shutdown(enum.Enum):
    """The two non-numeric shutdown modes; use :data:`BRUTAL_KILL` and :data:`INFINITY`."""

    BRUTAL_KILL = "brutal_kill"
    INFINITY = "infinity"


#: Stop the child by killing it at once (untrappable, reason ``killed``).
BRUTAL_KILL: Final = Shutdown.BRUTAL_KILL
#: Ask the child to shut down and wait as long as it takes (the default for
#: children of kind ``"supervisor"``: a subtree needs the time to stop).
INFINITY: Final = Shutdown.INFINITY

_KINDS: Final = ("worker", "supervisor")
_DEFAULT_WORKER_SHUTDOWN: Final = 5.0

_E = TypeVar("_E", bound=enum.Enum)


def _enum(cls: type[_E], field: str, value: object) -> _E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        for member in cls:
            if value.lower() in (member.value, member.name.lower()):
                return member
    choices = ", ".join(repr(m.value) for m in cls)
    hint = ""
    if field == "strategy" and value == "simple_one_for_one":
        hint = "; use DynamicSupervisorCore for a simple_one_for_one supervisor"
    raise SupervisorSpecError(
        f"{field}: unknown {cls.__name__} {value!r}; expected one of {choices}{hint}"
    )


def _seconds(field: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SupervisorSpecError(f"{field}: expected a number of seconds, got {value!r}")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0):
        must = "> 0" if positive else ">= 0"
        raise SupervisorSpecError(f"{field}: must be {must} seconds, got {value!r}")
    return seconds


@dataclass(frozen=True, init=False)
class ChildSpec:
    """How to start, stop and restart one child.

    Args:
        id: Unique (per supervisor) name of the child.
        start: What to start. Opaque to the decision core: the driver that
            performs :class:`StartChild` interprets it.
        restart: :class:`Restart` member or its name; defaults to ``PERMANENT``.
        shutdown: Seconds to wait after asking the child to stop before killing
            it, or :data:`BRUTAL_KILL` / :data:`INFINITY` (or their names).
            Defaults to 5 s for workers and ``INFINITY`` for supervisors, as in OTP.
        significant: Whether the child counts for the supervisor's
            ``auto_shutdown``. Only ``TRANSIENT`` and ``TEMPORARY`` children may
            be significant.
        kind: ``"worker"`` or ``"supervisor"``.

    Raises:
        SupervisorSpecError: A field is invalid; the message names it.
    """

    id: str
    start: object
    restart: Restart
    shutdown: float | Shutdown
    significant: bool
    kind: str

    def __init__(
        self,
        id: str,
        start: object,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: float | Shutdown | str | None = None,
        significant: bool = False,
        kind: str = "worker",
    ) -> None:
        if not isinstance(id, str) or not id:
            raise SupervisorSpecError(f"id: must be a non-empty string, got {id!r}")
        where = f"child {id!r}: "
        if kind not in _KINDS:
            raise SupervisorSpecError(
                f"{where}kind: must be 'worker' or 'supervisor', got {kind!r}"
            )
        try:
            restart_ = _enum(Restart, "restart", restart)
            if shutdown is None:
                shutdown_: float | Shutdown = (
                    INFINITY if kind == "supervisor" else _DEFAULT_WORKER_SHUTDOWN
                )
            elif isinstance(shutdown, Shutdown | str):
                shutdown_ = _enum(Shutdown, "shutdown", shutdown)
            else:
                shutdown_ = _seconds("shutdown", shutdown)
        except SupervisorSpecError as exc:
            raise SupervisorSpecError(where + str(exc)) from None
        if not isinstance(significant, bool):
            raise SupervisorSpecError(f"{where}significant: must be a bool, got {significant!r}")
        if significant and restart_ is Restart.PERMANENT:
            raise SupervisorSpecError(
                f"{where}significant: a PERMANENT child cannot be significant "
                "(it is always restarted); make it TRANSIENT or TEMPORARY"
            )
        for name, value in (
            ("id", id),
            ("start", start),
            ("restart", restart_),
            ("shutdown", shutdown_),
            ("significant", significant),
            ("kind", kind),
        ):
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Backoff:
    """Exponential restart delay with jitter and a cap (beyond OTP).

    The *i*-th consecutive restart of a child (counting from 0) waits
    ``min(max, initial * factor**i) * (1 + jitter * u)`` seconds, ``u`` drawn
    uniformly from [-1, 1]. The count goes back to 0 once the child has run for
    ``reset_after`` seconds before ending.

    Raises:
        SupervisorSpecError: A field is invalid; the message names it.
    """

    initial: float
    factor: float = 2.0
    max: float = 30.0
    jitter: float = 0.1
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        _seconds("backoff.initial", self.initial, positive=True)
        _seconds("backoff.reset_after", self.reset_after, positive=True)
        if _seconds("backoff.max", self.max) < self.initial:
            raise SupervisorSpecError(
                f"backoff.max: must be >= initial ({self.initial!r}), got {self.max!r}"
            )
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float):
            raise SupervisorSpecError(f"backoff.factor: expected a number, got {self.factor!r}")
        if not self.factor >= 1:
            raise SupervisorSpecError(f"backoff.factor: must be >= 1, got {self.factor!r}")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise SupervisorSpecError(f"backoff.jitter: expected a number, got {self.jitter!r}")
        if not 0 <= self.jitter < 1:
            raise SupervisorSpecError(f"backoff.jitter: must be in [0, 1), got {self.jitter!r}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The delay before consecutive restart number ``attempt`` (from 0).

        Args:
            attempt: How many consecutive restarts came before this one.
            rng: Source of the jitter; not used when ``jitter`` is 0.
        """
        try:
            base = min(self.max, self.initial * self.factor**attempt)
        except OverflowError:
            base = self.max
        if self.jitter:
            base *= 1.0 + self.jitter * rng.uniform(-1.0, 1.0)
        return base


@dataclass(frozen=True, init=False)
class SupervisorFlags:
    """A supervisor's restart strategy, restart intensity and shutdown policy.

    Args:
        strategy: :class:`Strategy` member or its name; defaults to ``ONE_FOR_ONE``.
        intensity: At most this many restarts are allowed within ``period``
            seconds; one more and the supervisor stops its children and exits.
            ``0`` makes every restart escalate. OTP's default is 1.
        period: The sliding window for ``intensity``, in seconds (> 0); OTP's
            default is 5.
        auto_shutdown: :class:`AutoShutdown` member or its name.
        backoff: Optional :class:`Backoff` delaying restarts.

    Raises:
        SupervisorSpecError: A field is invalid; the message names it.
    """

    strategy: Strategy
    intensity: int
    period: float
    auto_shutdown: AutoShutdown
    backoff: Backoff | None

    def __init__(
        self,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        intensity: int = 1,
        period: float = 5.0,
        auto_shutdown: AutoShutdown | str = AutoShutdown.NEVER,
        backoff: Backoff | None = None,
    ) -> None:
        strategy_ = _enum(Strategy, "strategy", strategy)
        if isinstance(intensity, bool) or not isinstance(intensity, int) or intensity < 0:
            raise SupervisorSpecError(f"intensity: must be an int >= 0, got {intensity!r}")
        period_ = _seconds("period", period, positive=True)
        if math.isinf(period_):
            raise SupervisorSpecError("period: must be finite")
        auto_shutdown_ = _enum(AutoShutdown, "auto_shutdown", auto_shutdown)
        if backoff is not None and not isinstance(backoff, Backoff):
            raise SupervisorSpecError(f"backoff: expected a Backoff or None, got {backoff!r}")
        object.__setattr__(self, "strategy", strategy_)
        object.__setattr__(self, "intensity", intensity)
        object.__setattr__(self, "period", period_)
        object.__setattr__(self, "auto_shutdown", auto_shutdown_)
        object.__setattr__(self, "backoff", backoff)


def check_child_specs(
    specs: Iterable[ChildSpec], auto_shutdown: AutoShutdown | str | None = None
) -> tuple[ChildSpec, ...]:
    """Validate a list of child specs as a whole (OTP's ``check_childspecs``).

    Args:
        specs: The children, in start order.
        auto_shutdown: The supervisor's setting, if known: with ``NEVER``,
            significant children are rejected, as in OTP. ``None`` skips that check.

    Returns:
        The specs as a tuple, in the same order.

    Raises:
        SupervisorSpecError: An item is not a :class:`ChildSpec`, two children
            share an id (the message names it), or a significant child is
            given to a supervisor whose ``auto_shutdown`` is ``NEVER``.
    """
    never = auto_shutdown is not None and (
        _enum(AutoShutdown, "auto_shutdown", auto_shutdown) is AutoShutdown.NEVER
    )
    result = tuple(specs)
    seen: set[str] = set()
    for index, spec in enumerate(result):
        if not isinstance(spec, ChildSpec):
            raise SupervisorSpecError(f"children[{index}]: expected a ChildSpec, got {spec!r}")
        if spec.id in seen:
            raise SupervisorSpecError(f"id: duplicate child id {spec.id!r}")
        seen.add(spec.id)
        if never and spec.significant:
            raise SupervisorSpecError(
                f"child {spec.id!r}: significant: the supervisor's auto_shutdown is NEVER, "
                "so a significant child would be ignored; set auto_shutdown or drop the flag"
            )
    return result


def check_dynamic_flags(flags: SupervisorFlags, where: str = "") -> None:
    """Refuse flags a dynamic supervisor cannot have, as OTP does for simple_one_for_one.

    Raises:
        SupervisorSpecError: The strategy is not one_for_one, or ``auto_shutdown``
            is set (OTP's ``bad_combination``).
    """
    if flags.strategy is not Strategy.ONE_FOR_ONE:
        raise SupervisorSpecError(
            f"{where}strategy: a dynamic supervisor is one_for_one, got {flags.strategy.value!r}"
        )
    if flags.auto_shutdown is not AutoShutdown.NEVER:
        raise SupervisorSpecError(
            f"{where}auto_shutdown: bad combination: auto_shutdown="
            f"{flags.auto_shutdown.value!r} with a dynamic supervisor (OTP refuses it for "
            "simple_one_for_one: its children are interchangeable, none is significant); "
            "use AutoShutdown.NEVER, or a static supervisor"
        )

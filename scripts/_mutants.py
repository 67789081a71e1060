# ruff: noqa: E501  (snippets are exact source lines)
"""The curated mutants `scripts/mutation.py` runs (see its docstring).

Each mutant is one small bug in a security check, found by the exact source
snippet (unique in its file) and replaced by ``replacement``. ``tests`` are
the targeted test files (or node ids) that must fail with it applied. When a
check moves, rewrite its mutant: a missing snippet is reported as stale.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    snippet: str
    replacement: str
    why: str
    tests: tuple[str, ...]
    # An equivalent mutant (no behaviour differs) is explained by a
    # "# equivalent mutant: ..." comment within a few lines of its snippet;
    # when it survives it is counted apart, not as a survivor.
    equivalent: bool = False


CAP = "hostkit/capabilities/"
# Fast and most specific first: pytest runs with -x, so the first failure ends it.
GATE_T = ("tests/test_guard_gate.py", "tests/test_gate.py", "tests/test_decision_cache.py")
LIMITS_T = ("tests/test_guard_gate.py", "tests/test_gate.py", "tests/test_authorizer.py")
AUTH_T = ("tests/test_decision_cache.py", "tests/test_authorizer.py")
SHORT_T = ("tests/test_guard_policies.py", "tests/test_shorthands.py")
PATHS_T = ("tests/test_guard_paths.py", "tests/test_paths.py")
FILES_T = (
    "tests/test_guard_paths.py",
    "tests/test_providers.py",
    "tests/test_files_race.py",
    "tests/test_files_grants.py",
    "tests/test_quota.py",
)
HTTP_T = ("tests/test_providers.py", "tests/test_ssrf_ipv6.py")
AUDIT_T = (
    "tests/test_guard_audit.py",
    "tests/test_audit.py",
    "tests/test_audit_keyed.py",
    "tests/test_audit_storm.py",
)
SUP_T = ("tests/test_supervision_core.py",)
CONFIG_T = ("tests/test_guard_config.py",)
RUNTIME_T = ("tests/test_guard_runtime.py", "tests/test_runtime.py")


def _m(
    id: str,
    file: str,
    snippet: str,
    replacement: str,
    why: str,
    tests: tuple[str, ...],
    *,
    equivalent: bool = False,
) -> Mutant:
    return Mutant(id, file, snippet, replacement, why, tests, equivalent)


MUTANTS: list[Mutant] = [
    # ------------------------------------------------------------- the gate
    _m(
        "gate-reload-keeps-caches",
        CAP + "_gate.py",
        '            raise\n        self._fresh_caches()\n        self._policy_record("loaded")',
        '            raise\n        self._policy_record("loaded")',
        "a policy reload through the Gate must drop its identity/grant and "
        "remembered-decision caches, or revoked permissions stay in force",
        GATE_T,
    ),
    _m(
        "gate-reload-keeps-remembered-sends",
        CAP + "_gate.py",
        "        self._process_ok: dict[tuple[Any, ...], bool] = {}\n",
        "        self._process_ok: dict[tuple[Any, ...], bool] = getattr(self, '_process_ok', {})\n",
        "remembered (sender, target) permits must not survive a reload",
        GATE_T,
    ),
    _m(
        "gate-reload-keeps-identities",
        CAP + "_gate.py",
        "        self._who: dict[CompiledComponent, _Who] = {}\n",
        "        self._who: dict[CompiledComponent, _Who] = getattr(self, '_who', {})\n",
        "a plugin's grants (CallContext.grants) must be recomputed on reload",
        GATE_T,
    ),
    _m(
        "gate-host-call-ignores-limits",
        CAP + "_gate.py",
        "            over = self.limits.check(who.name, b.action, size)\n",
        "            over = None\n",
        "an allowed host call still obeys the rate limit and payload cap",
        GATE_T,
    ),
    _m(
        "gate-host-call-unaudited-allowed",
        CAP + "_gate.py",
        '            return b.error(HostCallDenied(f"the audit log is unavailable: {exc}"))\n',
        "            pass\n",
        "a host call that cannot be audited is denied (fail closed)",
        GATE_T,
    ),
    _m(
        "gate-process-unaudited-allowed",
        CAP + "_gate.py",
        '            return f"the audit log is unavailable: {exc}"\n',
        "            pass\n",
        "send, call and spawn are denied when the audit log is broken (fail closed)",
        GATE_T,
    ),
    _m(
        "gate-process-ignores-size-limit",
        CAP + "_gate.py",
        "            why = self.limits.check(who.name, action, size)\n",
        "            why = None\n",
        "spawn payload cap / rate limit (CallLimits) on the messaging path",
        GATE_T,
    ),
    _m(
        "gate-remembers-context-dependent",
        CAP + "_gate.py",
        "            if not reads:\n",
        "            if True:\n",
        "a decision whose policies read context (size) must not be remembered",
        GATE_T,
    ),
    _m(
        "gate-remembers-denials",
        CAP + "_gate.py",
        "        if why is None and key is not None and not self._audit_every_message:",
        "        if key is not None and not self._audit_every_message:",
        "only permits are remembered; a denial must be decided again",
        GATE_T,
    ),
    _m(
        "gate-deny-runs-hook",
        CAP + "_gate.py",
        "        if refusal is not None:\n            self._refused(",
        "        if refusal is not None and False:\n            self._refused(",
        "a denied host call never reaches the provider",
        GATE_T,
    ),
    _m(
        "gate-denial-budget-ignored",
        CAP + "_gate.py",
        "        if self._storms.actor_exhausted(caller):\n",
        "        if self._storms.actor_exhausted(caller) and False:\n",
        "an actor past its denial budget is ended",
        (*GATE_T, "tests/test_audit_storm.py"),
    ),
    # -------------------------------------------------------------- limits
    _m(
        "limits-precedence-action-over-plugin",
        CAP + "_limits.py",
        "scopes = ((plugin, action), (plugin, None), (None, action), (None, None))",
        "scopes = ((plugin, action), (None, action), (plugin, None), (None, None))",
        "a per-plugin limit wins over a per-action one (documented precedence)",
        LIMITS_T,
    ),
    _m(
        "limits-precedence-default-first",
        CAP + "_limits.py",
        "scopes = ((plugin, action), (plugin, None), (None, action), (None, None))",
        "scopes = ((None, None), (plugin, action), (plugin, None), (None, action))",
        "the most specific limit applies, never the default",
        LIMITS_T,
    ),
    _m(
        "limits-payload-off-by-one",
        CAP + "_limits.py",
        "        if size > entry.cap:\n",
        "        if size > entry.cap + 1:\n",
        "a payload one byte over the cap is refused",
        LIMITS_T,
    ),
    _m(
        "limits-rate-never-empties",
        CAP + "_limits.py",
        "            if tokens >= 1:\n                entry.tokens = tokens - 1\n",
        "            if True:\n                entry.tokens = tokens - 1\n",
        "the token bucket refuses once its burst is spent",
        LIMITS_T,
    ),
    _m(
        "limits-refill-above-burst",
        CAP + "_limits.py",
        "entry.tokens = tokens = tokens if tokens < entry.burst else entry.burst",
        "entry.tokens = tokens",
        "idle time does not bank tokens past the burst",
        LIMITS_T,
    ),
    _m(
        "limits-negative-cap-accepted",
        CAP + "_limits.py",
        "    if size is not None and size < 0:\n",
        "    if size is not None and size < -1:\n",
        "a negative payload cap is a configuration error",
        LIMITS_T,
    ),
    _m(
        "storm-audit-bucket-unbounded",
        CAP + "_limits.py",
        "        if self.tokens >= 1:\n            self.tokens -= 1\n            return True\n",
        "        self.tokens -= 1\n        return True\n",
        "denial records are rate-limited per (plugin, action) and counted in summaries",
        ("tests/test_audit_storm.py",),
    ),
    _m(
        "storm-summary-never-due",
        CAP + "_limits.py",
        "                    everything or now - pending.reported >= self.limits.summary_interval",
        "                    everything",
        "suppressed denials are summarized at most one interval later",
        ("tests/test_audit_storm.py",),
    ),
    # ---------------------------------------------------------- authorizer
    _m(
        "authorizer-cache-ignores-context",
        CAP + "_authorizer.py",
        "                    tuple(context.items()),\n",
        "                    (),\n",
        "a cached decision is keyed by the call's context too",
        AUTH_T,
    ),
    _m(
        "authorizer-cache-ignores-types",
        CAP + "_authorizer.py",
        "                    types,\n",
        "                    (),\n",
        "True, 1 and 1.0 are different Cedar values: the cache key keeps types",
        AUTH_T,
    ),
    _m(
        "authorizer-grants-ignore-forbid-scope",
        CAP + "_authorizer.py",
        '            if policy.est["effect"] != "permit" or not _scope_may_match(policy.est, entity):',
        '            if policy.est["effect"] != "permit":',
        "grants listed for a plugin come only from permits that may apply to it",
        (*AUTH_T, *GATE_T),
    ),
    _m(
        "authorizer-reads-context-false",
        CAP + "_authorizer.py",
        '            if \'"Var": "context"\' in json.dumps(policy.est.get("conditions", ())):\n'
        "                return True\n",
        "            pass\n",
        "a policy reading context makes its decisions uncacheable per pair",
        (*AUTH_T, *GATE_T),
    ),
    _m(
        "entities-file-not-normalized",
        CAP + "_entities.py",
        'if not path.startswith("/") or path.startswith("//") or posixpath.normpath(path) != path:',
        'if not path.startswith("/"):',
        "a File resource must be a normalized absolute path (no '..' to fool like-patterns)",
        (*AUTH_T, "tests/test_gate.py"),
    ),
    # ---------------------------------------------------------- shorthands
    _m(
        "shorthand-name-escaped-star-is-wildcard",
        CAP + "_shorthands.py",
        '    unescaped = pattern.replace("\\\\*", "")\n    if "*" in unescaped:\n'
        '        return f"resource.name like {cedar_pattern(pattern)}"',
        '    if "*" in pattern:\n        return f"resource.name like {cedar_pattern(pattern)}"',
        "an escaped \\* in a name pattern is a literal star, not a wildcard "
        "(decisions are the same via like; the printed policy reviewers read is not)",
        SHORT_T,
    ),
    _m(
        "cedar-pattern-escape-dropped",
        CAP + "_cedartext.py",
        '        if part == "\\\\*":\n            out.append("\\\\*")\n',
        '        if part == "\\\\*":\n            out.append("*")\n',
        "\\* stays a literal star in Cedar's like",
        SHORT_T,
    ),
    _m(
        "shorthand-star-spans-segments",
        CAP + "_shorthands.py",
        '        f"!(resource.path like {cedar_pattern(deeper)})",\n',
        "",
        "a * in a file pattern stays inside one path segment",
        (*SHORT_T, "tests/test_files_grants.py"),
    ),
    _m(
        "shorthand-star-before-doublestar",
        CAP + "_shorthands.py",
        'if pattern.endswith("/**") and "*" in pattern[:-3].replace("\\\\*", ""):',
        "if False:",
        "a * above a final /** would widen the grant: refused",
        SHORT_T,
    ),
    _m(
        "shorthand-dotdot-segment",
        CAP + "_shorthands.py",
        '        if segment in ("", ".", ".."):\n',
        '        if segment in ("", "."):\n',
        "a file pattern with '..' is refused",
        SHORT_T,
    ),
    _m(
        "shorthand-negative-size",
        CAP + "_shorthands.py",
        "    if max_size < 0:\n",
        "    if max_size < -1:\n",
        "a negative size bound is refused",
        SHORT_T,
    ),
    # ---------------------------------------------------------------- paths
    _m(
        "paths-root-by-string-prefix",
        CAP + "_paths.py",
        'inside = prefix == "/" or guest == prefix or guest.startswith(prefix + "/")',
        'inside = prefix == "/" or guest == prefix or guest.startswith(prefix)',
        "/root2 is not inside /root",
        (*PATHS_T, *FILES_T),
    ),
    _m(
        "paths-shortest-root-wins",
        CAP + "_paths.py",
        "if inside and (best is None or len(prefix) > len(best[0])):",
        "if inside and best is None:",
        "the longest matching guest prefix picks the root (a nested read-only root)",
        (*PATHS_T, *FILES_T),
    ),
    _m(
        "paths-is-within-by-prefix",
        CAP + "_paths.py",
        "        return os.path.commonpath([directory, path]) == directory\n",
        "        return path.startswith(directory)\n",
        "/srv/root2 is not within /srv/root",
        PATHS_T,
    ),
    _m(
        "paths-dotdot-accepted",
        CAP + "_paths.py",
        '        if part == "..":\n            raise PathRejected(',
        '        if part == ".." and False:\n            raise PathRejected(',
        "'..' components are refused, never resolved",
        PATHS_T,
    ),
    _m(
        "paths-nul-accepted",
        CAP + "_paths.py",
        '    if "\\x00" in path:\n',
        "    if False:\n",
        "NUL in a path is refused",
        PATHS_T,
    ),
    _m(
        "paths-nfkc-lookalike",
        CAP + "_paths.py",
        '        if folded in (".", "..") or "/" in folded:\n',
        "        if False:\n",
        "components that fold to . .. or / under NFKC are refused",
        PATHS_T,
    ),
    _m(
        "paths-control-chars",
        CAP + "_paths.py",
        "        if unicodedata.category(ch) in _REFUSED_CATEGORIES:\n",
        "        if False:\n",
        "control and formatting characters are refused",
        PATHS_T,
    ),
    _m(
        "paths-not-nfc",
        CAP + "_paths.py",
        '    if not unicodedata.is_normalized("NFC", path):\n',
        "    if False:\n",
        "paths not in NFC are refused (two spellings of one name)",
        PATHS_T,
    ),
    _m(
        "paths-too-long",
        CAP + "_paths.py",
        "    if size > MAX_PATH_BYTES:\n",
        "    if size > MAX_PATH_BYTES * 2:\n",
        "paths over MAX_PATH_BYTES are refused",
        PATHS_T,
    ),
    # -------------------------------------------------------------- fsopen
    _m(
        "fsopen-no-nofollow",
        CAP + "providers/_fsopen.py",
        "    flags |= O_NOFOLLOW | O_CLOEXEC\n",
        "    flags |= O_CLOEXEC\n",
        "a final symlink is never followed (openat2 and the walk)",
        FILES_T,
    ),
    _m(
        "fsopen-walk-follows-dirs",
        CAP + "providers/_fsopen.py",
        "fd = os.open(name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)",
        "fd = os.open(name, O_PATH | O_DIRECTORY | O_CLOEXEC, dir_fd=fd)",
        "the per-component walk never follows a symlinked directory",
        FILES_T,
    ),
    _m(
        "fsopen-openat2-not-beneath",
        CAP + "providers/_fsopen.py",
        "_RESOLVE: Final = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS",
        "_RESOLVE: Final = _RESOLVE_NO_MAGICLINKS",
        "openat2 resolves beneath the root with no symlinks",
        FILES_T,
    ),
    _m(
        "fsopen-walk-symlink-errno",
        CAP + "providers/_fsopen.py",
        "    if stat.S_ISLNK(info.st_mode):\n        raise OSError(errno.ELOOP",
        "    if False:\n        raise OSError(errno.ELOOP",
        "a symlinked directory on the walk is ELOOP (denied), like openat2",
        FILES_T,
    ),
    # --------------------------------------------------------------- files
    _m(
        "files-hardlinks-allowed",
        CAP + "providers/files.py",
        "    if info.st_nlink > 1 and not target.root.hardlinks:\n",
        "    if False:\n",
        "a hard-linked file may name a file outside the root: refused by default",
        FILES_T,
    ),
    _m(
        "files-readonly-root-writable",
        CAP + "providers/files.py",
        "        if not target.root.writable:\n",
        "        if False:\n",
        "a read-only root refuses writes",
        FILES_T,
    ),
    _m(
        "files-read-cap",
        CAP + "providers/files.py",
        "            if info.st_size > self.max_read_bytes:\n",
        "            if False:\n",
        "reads over max_read_bytes are refused before reading",
        FILES_T,
        equivalent=True,
    ),
    _m(
        "files-write-cap",
        CAP + "providers/files.py",
        "        if len(data) > self.max_write_bytes:\n",
        "        if False:\n",
        "writes over max_write_bytes are refused",
        FILES_T,
    ),
    _m(
        "files-quota-bytes",
        CAP + "providers/files.py",
        "                if size > 0 and used[0] + size > root.max_bytes:\n",
        "                if size > 0 and used[0] + size > root.max_bytes + size:\n",
        "a plugin's bytes in a root are bounded by the quota",
        FILES_T,
    ),
    _m(
        "files-quota-files",
        CAP + "providers/files.py",
        "                if files > 0 and used[1] + files > root.max_files:\n",
        "                if False:\n",
        "a plugin's file count in a root is bounded by the quota",
        FILES_T,
    ),
    _m(
        "files-special-file-read",
        CAP + "providers/files.py",
        "            if not stat.S_ISREG(info.st_mode):\n"
        '                raise HostCallInvalid(f"{target.guest!r} is not a regular file")\n'
        "            _check_links(target, info)\n            if info.st_size",
        "            _check_links(target, info)\n            if info.st_size",
        "only regular files are read (no FIFOs or devices that block or stream)",
        FILES_T,
    ),
    _m(
        "files-list-cap",
        CAP + "providers/files.py",
        "                    if len(entries) >= self.max_list_entries:\n",
        "                    if False:\n",
        "a directory listing is bounded",
        FILES_T,
    ),
    # ---------------------------------------------------------------- http
    _m(
        "http-private-allowed",
        CAP + "providers/http.py",
        "    if addr.is_private:\n",
        "    if False:\n",
        "private addresses are refused without an allow entry",
        HTTP_T,
    ),
    _m(
        "http-mapped-v4-unchecked",
        CAP + "providers/http.py",
        "    if address.ipv4_mapped is not None:\n        return [address.ipv4_mapped]\n",
        "",
        "IPv4-mapped IPv6 is checked as the IPv4 address it names",
        HTTP_T,
    ),
    _m(
        "http-metadata-by-network",
        CAP + "providers/http.py",
        "if not any(n.num_addresses == 1 and addr in n for n in self.networks):",
        "if not any(addr in n for n in self.networks):",
        "a metadata address needs its exact address allowed, not a network",
        HTTP_T,
    ),
    _m(
        "http-response-cap",
        CAP + "providers/http.py",
        "            if size > self.max_response_bytes:\n",
        "            if False:\n",
        "response bodies are capped",
        HTTP_T,
    ),
    # ----------------------------------------------------------------- kv
    _m(
        "kv-value-cap",
        CAP + "providers/kv.py",
        "        if size > self.max_value_bytes:\n",
        "        if False:\n",
        "kv values are capped",
        ("tests/test_providers.py", "tests/test_quota.py"),
    ),
    _m(
        "kv-key-quota",
        CAP + "providers/kv.py",
        "                if usage[1] + added_keys > self.max_keys:\n",
        "                if False:\n",
        "a plugin's key count is bounded",
        ("tests/test_providers.py", "tests/test_quota.py"),
    ),
    # ---------------------------------------------------------------- audit
    _m(
        "verify-expect-count-off-by-one",
        "hostkit/audit/_verify.py",
        "        if self.expect_count is not None and self.count < self.expect_count:\n",
        "        if self.expect_count is not None and self.count < self.expect_count - 1:\n",
        "audit verify --expect-count catches a truncation of exactly one record",
        AUDIT_T,
    ),
    _m(
        "verify-gap-ignored",
        "hostkit/audit/_verify.py",
        "        if seq > self.count:\n",
        "        if seq > self.count + 1:\n",
        "one record removed from the middle is a gap in seq",
        AUDIT_T,
    ),
    _m(
        "verify-replay-ignored",
        "hostkit/audit/_verify.py",
        "        if seq < self.count:\n",
        "        if False:\n",
        "a duplicated (replayed) record is caught",
        AUDIT_T,
    ),
    _m(
        "verify-chain-unchecked",
        "hostkit/audit/_verify.py",
        '        if record["prev"] != self.head:\n',
        "        if False:\n",
        "each record links to the one before",
        AUDIT_T,
    ),
    _m(
        "verify-head-unchecked",
        "hostkit/audit/_verify.py",
        "        if not self.head_seen:\n",
        "        if False:\n",
        "an expected head that never appears means truncation or rewrite",
        AUDIT_T,
    ),
    _m(
        "log-broken-accepts",
        "hostkit/audit/_log.py",
        "        if self._failure is not None:\n            raise AuditError(",
        "        if False:\n            raise AuditError(",
        "a log whose sink failed refuses later records (no silent gaps)",
        (*AUDIT_T, *GATE_T),
    ),
    _m(
        "log-sink-error-swallowed",
        "hostkit/audit/_log.py",
        "                if isinstance(exc, Exception):\n                    raise self._failure from exc\n",
        "                if isinstance(exc, Exception):\n                    return {}\n",
        "a failed write raises: the caller denies what it could not audit",
        (*AUDIT_T, *GATE_T),
    ),
    _m(
        "log-closed-accepts",
        "hostkit/audit/_log.py",
        '        if self._closed:\n            raise AuditError("the audit log is closed")',
        '        if False:\n            raise AuditError("the audit log is closed")',
        "a closed log refuses records",
        AUDIT_T,
    ),
    _m(
        "record-reserved-field",
        "hostkit/audit/_record.py",
        "        if name in RESERVED_FIELDS:\n",
        "        if False:\n",
        "callers cannot forge seq/prev/hash",
        AUDIT_T,
    ),
    _m(
        "record-strings-not-inert",
        "hostkit/audit/_record.py",
        '        if len(value) <= DEFAULT_MAX_CHARS and value.isprintable() and "\\\\" not in value:',
        "        if True:",
        "guest strings in records are made inert (no control characters, bounded)",
        AUDIT_T,
    ),
    # ---------------------------------------------------------- supervision
    _m(
        "supervision-intensity-off-by-one",
        "hostkit/supervision/_core.py",
        "        if len(self._restart_times) > self.flags.intensity:\n",
        "        if len(self._restart_times) > self.flags.intensity + 1:\n",
        "more than intensity restarts in period stops the supervisor",
        SUP_T,
    ),
    _m(
        "supervision-period-never-expires",
        "hostkit/supervision/_core.py",
        "self._restart_times = [t for t in self._restart_times if now - t <= period]",
        "self._restart_times = list(self._restart_times)",
        "old restarts leave the window",
        SUP_T,
    ),
    _m(
        "supervision-transient-restarts-normal",
        "hostkit/supervision/_core.py",
        "(restart is Restart.TRANSIENT and not reason.is_normal)",
        "(restart is Restart.TRANSIENT)",
        "a transient child that ended normally is not restarted",
        SUP_T,
    ),
    # ------------------------------------------------------ runtime config
    _m(
        "config-zero-limits-accepted",
        "hostkit/runtime/_host.py",
        "            if not isinstance(value, int | float) or value <= 0:\n",
        "            if not isinstance(value, int | float) or value < 0:\n",
        "HostConfig refuses zero limits",
        CONFIG_T,
    ),
    _m(
        "config-fuel-off-by-default",
        "hostkit/runtime/_host.py",
        "    fuel_per_activation: int | None = 2_000_000_000\n",
        "    fuel_per_activation: int | None = None\n",
        "fuel metering is on by default",
        CONFIG_T,
    ),
    _m(
        "config-negative-fuel-accepted",
        "hostkit/runtime/_host.py",
        "        if self.fuel_per_activation is not None and self.fuel_per_activation <= 0:\n",
        "        if False:\n",
        "fuel_per_activation is positive or None",
        CONFIG_T,
    ),
    # ------------------------------------------------------ runtime limits
    _m(
        "runtime-call-timeout-swallowed",
        "hostkit/runtime/_host.py",
        "            with trio.fail_after(timeout):\n                await done.wait()",
        "            with trio.move_on_after(timeout):\n                await done.wait()",
        "host.call to a guest that never replies raises CallTimeout at the timeout",
        RUNTIME_T,
    ),
    _m(
        "runtime-budget-not-renewed",
        "hostkit/runtime/_wasm.py",
        "        guard.deadline = deadline\n        guard.host_calls = 0\n",
        "        guard.deadline = deadline\n",
        "the host-call budget is per activation, renewed before each",
        RUNTIME_T,
    ),
    _m(
        "runtime-budget-unchecked",
        "hostkit/runtime/_wasm.py",
        "    if guard.host_calls > inst.host_call_budget:\n",
        "    if False:\n",
        "an activation making more host calls than the budget ends the actor",
        RUNTIME_T,
    ),
    _m(
        "runtime-process-send-size",
        "hostkit/runtime/_actors.py",
        '        if len(payload) > self.cfg.max_message_size:\n            return "too-large"\n',
        "",
        "process.send obeys max_message_size",
        RUNTIME_T,
    ),
    _m(
        "runtime-outbox-send-size",
        "hostkit/runtime/_actors.py",
        "                if length > max_size:\n",
        "                if False:\n",
        "an outbox `s` frame obeys max_message_size",
        RUNTIME_T,
    ),
    _m(
        "runtime-host-send-size",
        "hostkit/runtime/_actors.py",
        "        if len(payload) > self.cfg.max_message_size:\n            raise MessageTooLarge(",
        "        if False:\n            raise MessageTooLarge(",
        "Host.send / Host.call obey max_message_size",
        RUNTIME_T,
    ),
    _m(
        "runtime-mailbox-unbounded",
        "hostkit/runtime/_actors.py",
        "            if not system and len(mb) >= self.cfg.mailbox_capacity:\n",
        "            if False:\n",
        "a mailbox is bounded by mailbox_capacity",
        RUNTIME_T,
    ),
    _m(
        "runtime-load-bytes-size",
        "hostkit/runtime/_wasm.py",
        "        if len(data) > self.max_component_bytes:\n",
        "        if False:\n",
        "load(bytes) obeys max_component_bytes",
        RUNTIME_T,
    ),
    _m(
        "runtime-down-dropped-when-full",
        "hostkit/runtime/_actors.py",
        'self._push(watcher, frame(b"d", pid, ref, payload), system=True)',
        'self._push(watcher, frame(b"d", pid, ref, payload))',
        "a DOWN is a system frame: never lost to a full mailbox",
        RUNTIME_T,
    ),
]

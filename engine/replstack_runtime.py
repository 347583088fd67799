"""What every Python process the Pulumi engine starts for replstack shares: the program (run by
``pulumi-language-python-exec``), the dynamic-provider server and a policy pack.

- They end with the engine. Each one watches its parent process and exits as soon as it is gone, so that a
  ``kill -9`` of ``pulumi`` (or of the language host) leaves nothing holding a port. A thread polls
  ``getppid()``: the parent-death signal of ``prctl`` would follow the parent *thread* that started the process,
  and the Go processes that start these (the CLI, the language host) start children from any of their threads.
  Processes that a provider starts on purpose in their own session (``mariadbd``, ``haproxy``) are not touched.
- They stop promptly when the engine stops them (SIGINT when it closes a plugin, SIGTERM from the language host
  when a run is cancelled): no ``KeyboardInterrupt`` traceback, no wait for busy threads.
- An error reaches the user as one line: the exception's message when it is one of the project's own exceptions
  (a class defined outside the Python installation, i.e. in the program's code), ``TypeName: message``
  otherwise, followed by ``(details: <log file>)``. The log file, under ``$PULUMI_HOME/logs/replstack/``
  (``~/.pulumi/logs/replstack/`` without ``PULUMI_HOME``), holds the full traceback.

Run as a script it is the entry point of the engine's Python plugins, in the process's working directory:
    python -u replstack_runtime.py dynamic [ARGS]   the Pulumi SDK's dynamic-provider server (pulumi.dynamic)
    python -u replstack_runtime.py policy ARGS      a policy pack (pulumi.policy)
The executor imports it as a module.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PARENT_POLL_SECONDS = 0.25
# Exit status of a process whose parent (the engine, or the language host) is gone.
PARENT_GONE = 70
LOG_FILES_KEPT = 200

_log_lock = threading.Lock()
_log_counter = 0


def exit_now(code: int) -> None:
    """Ends the process at once: no interpreter shutdown, which would wait for busy worker threads."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (a closed pipe must not keep the process alive)
            pass
    os._exit(code)


def watch_parent(poll: float = PARENT_POLL_SECONDS) -> None:
    """Exits this process as soon as its parent is gone (it is then re-parented, so ``getppid()`` changes)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                exit_now(PARENT_GONE)

    threading.Thread(target=watch, name="replstack-parent-watch", daemon=True).start()


def exit_on_signals(*signums: int, message: str | None = None) -> None:
    """On any of ``signums``, prints ``message`` (one line, if given) and exits at once with 128 + signal."""

    def stop(signum: int, _frame: object) -> None:
        if message:
            try:
                sys.stderr.write(message + "\n")
            except Exception:  # noqa: BLE001
                pass
        exit_now(128 + signum)

    for signum in signums:
        signal.signal(signum, stop)


# --- one-line error reports -------------------------------------------------------------------------------------


def log_dir() -> str:
    home = os.environ.get("PULUMI_HOME") or os.path.join(os.path.expanduser("~"), ".pulumi")
    return os.path.join(home, "logs", "replstack")


def _library_dirs() -> list[str]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    try:
        dirs += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # some embedded interpreters have no site functions
        pass
    return sorted({os.path.realpath(d) + os.sep for d in dirs if d})


def is_project_exception(error: BaseException) -> bool:
    """True for an exception class of the project's own code: defined in a module outside the standard library
    and the installed packages, or in the program's ``__main__`` (dynamic providers carry such classes by
    value)."""
    module_name = type(error).__module__
    if module_name == "__main__":
        return True
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return False  # builtins and extension modules compiled into the interpreter
    path = os.path.realpath(path)
    return not any(path.startswith(d) for d in _library_dirs())


def reason(error: BaseException) -> str:
    """What went wrong, in the words the user needs: the message of the project's own exceptions, the type and
    the message of anything else."""
    message = str(error).strip()
    if is_project_exception(error) and message:
        return message
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def _safe_label(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return cleaned.strip("._")[:60] or "error"


def write_log(label: str, header: dict[str, str], details: str) -> str:
    """Writes ``details`` under a header into a new file of the log directory, keeps the newest
    ``LOG_FILES_KEPT`` files there, and returns the new file's path."""
    global _log_counter
    directory = log_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with _log_lock:
        _log_counter += 1
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{_safe_label(label)}-{os.getpid()}-{_log_counter}.log"
    path = os.path.join(directory, name)
    # The owner's only: a traceback may show values the provider was given.
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as log:
        for key, value in header.items():
            log.write(f"{key}: {value}\n")
        log.write("\n" + details)
    _prune(directory)
    return path


def _prune(directory: str) -> None:
    try:
        entries = [e for e in os.scandir(directory) if e.is_file() and e.name.endswith(".log")]
        entries.sort(key=lambda e: e.stat().st_mtime)
        for entry in entries[:-LOG_FILES_KEPT]:
            os.unlink(entry.path)
    except OSError:
        pass


def report(error: BaseException, label: str, header: dict[str, str] | None = None) -> str:
    """The one line that reports ``error``, its full traceback kept in a log file named in the line. When no
    log can be written the traceback follows the line, so that it is never lost."""
    import traceback

    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    line = reason(error)
    try:
        path = write_log(label, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": str(os.getpid()),
                                 **(header or {})}, details)
    except OSError as failure:
        return f"{line} (no log written: {failure})\n{details}"
    return f"{line} (details: {path})"


# --- the dynamic-provider server ---------------------------------------------------------------------------------

# Calls that only read: on the engine's Cancel they are answered at once with CANCELLED, while the provider's
# code finishes on its own in the background and its result is dropped. Calls that change something (Create,
# Update, Delete) run to completion: a cancelled update waits for them, as the engine expects.
ABORTABLE = frozenset({"Check", "Diff", "Read"})


class _Aborted(Exception):
    """Raised by the proxy context's ``abort``, carrying the status to apply in the handler's own thread."""

    def __init__(self, code: object, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _CallContext:
    """Stands for the gRPC context of one call: ``abort`` turns an exception being handled into a one-line
    report before the status goes out; anything else is the real context's."""

    def __init__(self, context: object, method: str, request: object) -> None:
        self._context = context
        self._method = method
        self._request = request
        self.code_set = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._context, name)

    def set_code(self, code: object) -> None:
        self.code_set = True
        self._context.set_code(code)

    def abort(self, code: object, details: str) -> None:
        import grpc

        error = sys.exc_info()[1]
        if code == grpc.StatusCode.UNKNOWN and error is not None and not isinstance(error, _Aborted):
            details = self.report(error)
        raise _Aborted(code, details)

    def report(self, error: BaseException) -> str:
        urn = getattr(self._request, "urn", "") or ""
        name = urn.rsplit("::", 1)[-1] if urn else "provider"
        return report(error, f"{name}-{self._method.lower()}",
                      {"resource": urn or "(none)", "operation": self._method})


class _Calls:
    """The engine's Cancel, and the read-only calls it interrupts."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._waiting: set[threading.Event] = set()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
            for wake in self._waiting:
                wake.set()

    def run_abortable(self, method, behavior, request, context):  # type: ignore[no-untyped-def]
        wake = threading.Event()
        outcome: dict[str, object] = {}

        def call() -> None:
            try:
                outcome["result"] = behavior(request, context)
            except BaseException as error:  # noqa: BLE001  (handed to the waiting thread)
                outcome["error"] = error
            finally:
                wake.set()

        with self._lock:
            if self.cancelled.is_set():
                raise _Aborted(_status("CANCELLED"), cancelled_message(method))
            self._waiting.add(wake)
        try:
            threading.Thread(target=call, name="replstack-provider-call", daemon=True).start()
            wake.wait()
        finally:
            with self._lock:
                self._waiting.discard(wake)
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        if "result" in outcome:
            return outcome["result"]
        raise _Aborted(_status("CANCELLED"), cancelled_message(method))


def cancelled_message(method: str) -> str:
    return f"cancelled: the run was interrupted during {method.lower()}"


def _status(name: str) -> object:
    import grpc

    return getattr(grpc.StatusCode, name)


def _interceptor(calls: _Calls):  # type: ignore[no-untyped-def]
    import grpc

    class ReportErrors(grpc.ServerInterceptor):
        def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
            handler = continuation(handler_call_details)
            if handler is None or handler.unary_unary is None:
                return handler
            method = handler_call_details.method.rsplit("/", 1)[-1]
            inner = handler.unary_unary

            def behavior(request, context):  # type: ignore[no-untyped-def]
                if method == "Cancel":
                    calls.cancel()
                    return inner(request, context)
                proxy = _CallContext(context, method, request)
                try:
                    if method in ABORTABLE:
                        return calls.run_abortable(method, inner, request, proxy)
                    return inner(request, proxy)
                except _Aborted as aborted:
                    context.abort(aborted.code, aborted.details)
                except Exception as error:  # noqa: BLE001
                    if proxy.code_set:  # the handler chose its status (UNIMPLEMENTED): keep it
                        raise
                    context.abort(grpc.StatusCode.UNKNOWN, proxy.report(error))

            return grpc.unary_unary_rpc_method_handler(
                behavior,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

    return ReportErrors()


def _install_server_interceptor(interceptor: object) -> None:
    """The SDK's server module builds its gRPC server and serves at import time; the one server it builds gets
    ``interceptor`` through a one-shot wrapper of ``grpc.server``."""
    import grpc

    original = grpc.server

    def server(*args, **kwargs):  # type: ignore[no-untyped-def]
        grpc.server = original
        kwargs["interceptors"] = [*(kwargs.get("interceptors") or ()), interceptor]
        return original(*args, **kwargs)

    grpc.server = server


def _run_module(module: str, args: list[str]) -> None:
    import runpy

    # As `python -m` would have it: the working directory first on the path (dynamic providers are unpickled
    # from it), this script's directory not at all.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path.insert(0, os.getcwd())
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> None:
    # First of all: the engine closes plugins with SIGINT, and a traceback from an interrupted import is noise.
    exit_on_signals(signal.SIGINT, signal.SIGTERM)
    watch_parent()
    if not argv or argv[0] not in ("dynamic", "policy"):
        sys.stderr.write("usage: replstack_runtime.py dynamic|policy [ARGS]\n")
        exit_now(2)
    kind, args = argv[0], argv[1:]
    if kind == "dynamic":
        calls = _Calls()
        _install_server_interceptor(_interceptor(calls))
        _run_module("pulumi.dynamic", args)
    else:
        _run_module("pulumi.policy", args)


if __name__ == "__main__":
    main(sys.argv[1:])

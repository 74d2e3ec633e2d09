"""Running a program in this process as ``python SCRIPT`` or ``python -m MODULE`` would, with
asyncore-ng's ``asyncore``/``asynchat`` installed first: the engine of ``asyncore-ng run``.

What the program sees is what the interpreter gives it (tests/test_cli.py compares the two on
CPython 3.8, 3.11, 3.13 and the version running the tests: 3.14 and 3.15 in CI):

* ``sys.argv``: the script path as given (``-m``: the module's file) and its arguments;
* ``sys.path[0]``: the script's directory with symbolic links resolved (``-m``: the current
  directory; a directory or zip file with a ``__main__.py``: that path), *replacing* the entry
  the interpreter added for the launcher (the console script's directory, or the current
  directory of ``python -m asyncore_ng``); nothing is added under ``-I``, ``-P`` or
  ``PYTHONSAFEPATH``, as with the interpreter;
* a fresh ``__main__`` module in ``sys.modules`` holding the globals the interpreter sets:
  ``__file__`` (absolute from 3.9 on, as given on 3.8), ``__spec__`` (``None`` for a script,
  the module's spec for ``-m``), ``__loader__``, ``__cached__`` (up to 3.14), ``__package__``,
  ``__annotations__``, ``__builtins__``; the code is compiled without the runner's
  ``__future__`` flags;
* warnings: the interpreter's ``-W`` options and ``PYTHONWARNINGS`` apply as they are (the
  runner issues none of its own); :func:`add_warning_option` adds more, as ``-W`` does;
* an uncaught exception: its traceback, from the program's first frame (no runner frames),
  goes through ``sys.excepthook``; the exception is then re-raised, silenced, so that the
  interpreter ends the process exactly as it would have (status 1, or killed by SIGINT for a
  ``KeyboardInterrupt``). ``SystemExit`` passes through untouched;
* the end of a script file: ``__file__`` and ``__cached__`` leave ``__main__`` when and as
  the interpreter's own ``python FILE`` takes them out (it changed in 3.14: see ``_execute``).
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import marshal
import os
import re
import sys
import types
import warnings
from types import TracebackType
from typing import Any, Dict, Optional, Sequence, Tuple

from ._install import install

__all__ = [
    "add_warning_option",
    "interpreter_adds_path0",
    "launcher_path0",
    "run_module",
    "run_path",
]

ExcInfo = Tuple[type, BaseException, Optional[TracebackType]]


class NotRunnable(Exception):
    """The program cannot be started; the message is the interpreter's (printed, status 1)."""


# -- sys.path[0] ------------------------------------------------------------------------------


def interpreter_adds_path0() -> bool:
    """Whether the interpreter puts the main program's directory first on ``sys.path`` (it does
    not under ``-I``, ``-P`` or ``PYTHONSAFEPATH``)."""
    return not (sys.flags.isolated or getattr(sys.flags, "safe_path", False))


def launcher_path0(expected: str) -> Optional[str]:
    """``sys.path[0]`` if it is the entry the interpreter added for the launcher, ``expected``
    (the console script's directory, or the current directory of ``python -m``): the runner
    replaces it with the program's. ``None`` when the interpreter added nothing."""
    if not interpreter_adds_path0() or not sys.path:
        return None
    first = sys.path[0]
    try:
        same = os.path.realpath(first or os.curdir) == os.path.realpath(expected)
    except (OSError, ValueError):
        return None
    return first if same else None


def _set_path0(launcher: Optional[str], entry: Optional[str], always: bool = False) -> None:
    if launcher is not None and sys.path and sys.path[0] == launcher:
        del sys.path[0]
    if entry is not None and (always or interpreter_adds_path0()):
        sys.path.insert(0, entry)


def _main_file_name(path: str) -> str:
    """``__file__`` of a script given as ``path``: joined to the current directory from 3.9 on
    (not normalized, as the interpreter does), as given on 3.8."""
    if sys.version_info < (3, 9) or os.path.isabs(path):
        return path
    return os.path.join(os.getcwd(), path)


# -- warnings ---------------------------------------------------------------------------------

_ACTIONS = ("default", "always", "ignore", "module", "once", "error")


def add_warning_option(arg: str) -> None:
    """Apply ``arg`` as the interpreter applies a ``-W arg`` option (appended to
    ``sys.warnoptions``, taking precedence over earlier filters); an invalid one is reported
    on standard error and ignored, as the interpreter does."""
    try:
        filter_args = _parse_warning_option(arg)
    except _BadOption as exc:
        sys.stderr.write(f"Invalid -W option ignored: {exc}\n")
        return
    sys.warnoptions.append(arg)
    warnings.filterwarnings(*filter_args)


class _BadOption(Exception):
    pass


def _parse_warning_option(arg: str) -> Tuple[Any, str, type, str, int]:
    parts = arg.split(":")
    if len(parts) > 5:
        raise _BadOption(f"too many fields (max 5): {arg!r}")
    parts += [""] * (5 - len(parts))
    action, message, category_name, module, lineno_text = (s.strip() for s in parts)
    if not action:
        action = "default"
    elif action == "all":
        action = "always"
    else:
        matches = [a for a in _ACTIONS if a.startswith(action)]
        if not matches:
            raise _BadOption(f"invalid action: {action!r}")
        action = matches[0]
    category = _warning_category(category_name)
    if message:
        message = re.escape(message)
    if module:
        module = re.escape(module) + r"\Z"
    lineno = 0
    if lineno_text:
        try:
            lineno = int(lineno_text)
        except ValueError:
            raise _BadOption(f"invalid lineno {lineno_text!r}") from None
        if lineno < 0:
            raise _BadOption(f"invalid lineno {lineno_text!r}")
    return action, message, category, module, lineno


def _warning_category(name: str) -> type:
    if not name:
        return Warning
    if "." not in name:
        found = getattr(builtins, name, None)
        if found is None:
            raise _BadOption(f"unknown warning category: {name!r}")
    else:
        module_name, _, attr = name.rpartition(".")
        try:
            module = __import__(module_name, None, None, [attr])
        except ImportError:
            raise _BadOption(f"invalid module name: {module_name!r}") from None
        found = getattr(module, attr, None)
        if found is None:
            raise _BadOption(f"unknown warning category: {name!r}")
    if not (isinstance(found, type) and issubclass(found, Warning)):
        raise _BadOption(f"invalid warning category: {name!r}")
    return found


# -- the __main__ module ----------------------------------------------------------------------


def _new_main() -> types.ModuleType:
    """A module named ``__main__`` holding what the interpreter's own ``__main__`` holds before
    the program's globals are set."""
    module = types.ModuleType("__main__")
    namespace = vars(module)
    if sys.version_info < (3, 14):
        namespace["__annotations__"] = {}
    namespace["__builtins__"] = builtins
    return module


#: ``__main__`` gets ``__cached__`` (None for a script) up to 3.14; 3.15 no longer sets it
#: (neither for ``python FILE`` nor in runpy).
_MAIN_HAS_CACHED = sys.version_info < (3, 15)


def _globals_from_spec(namespace: Dict[str, Any], spec: importlib.machinery.ModuleSpec) -> None:
    file_name = cached = None
    if spec.has_location:
        file_name = spec.origin
        cached = spec.cached
    namespace.update(
        __name__="__main__",
        __file__=file_name,
        __doc__=None,
        __loader__=spec.loader,
        __package__=spec.parent,
        __spec__=spec,
    )
    if _MAIN_HAS_CACHED:
        namespace["__cached__"] = cached


# -- uncaught exceptions ----------------------------------------------------------------------


def _program_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """``tb`` without its leading runner frames (the exception is caught in this module, so
    they are the outermost ones)."""
    here = os.path.normcase(os.path.abspath(__file__))
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if os.path.normcase(os.path.abspath(name)) != here:
            break
        tb = tb.tb_next
    return tb


def _report_uncaught(exc: BaseException, tb: Optional[TracebackType]) -> None:
    """Print ``exc`` through ``sys.excepthook`` with traceback ``tb``, as the interpreter does for
    an uncaught exception, and make the hook skip ``exc`` when the interpreter meets it again
    (the caller re-raises it so that the interpreter ends the process as usual)."""
    exc.__traceback__ = tb
    hook = sys.excepthook
    try:
        hook(type(exc), exc, tb)
    except BaseException as hook_error:
        # Printed as the interpreter prints it: the hook's own frames, and not chained to the
        # exception it was reporting (the interpreter does not call it inside an except block).
        if hook_error.__context__ is exc:
            hook_error.__context__ = None
        hook_tb = hook_error.__traceback__ = _program_frames(hook_error.__traceback__)
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(hook_error), hook_error, hook_tb)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(exc), exc, tb)

    def already_reported(
        etype: type[BaseException], value: BaseException, trace: Optional[TracebackType]
    ) -> None:
        if value is exc:
            return
        hook(etype, value, trace)

    sys.excepthook = already_reported


def _execute(code: types.CodeType, namespace: Dict[str, Any], script: bool = False) -> None:
    """Run the program's code in ``namespace`` (its ``__main__``). ``script``: a file run as
    ``python FILE``, whose end the interpreter marks by taking ``__file__`` and ``__cached__``
    out of ``__main__`` (atexit handlers no longer see them): after the code returns or after
    an uncaught exception was reported, and not on ``SystemExit``, up to 3.13; from 3.14 in
    every case, *before* the uncaught exception is reported (a ``sys.excepthook`` that reads
    ``__file__`` then fails). Directories, zip files and ``-m`` keep them."""
    early = script and sys.version_info >= (3, 14)
    try:
        exec(code, namespace)
    except SystemExit:
        if early:
            _forget_file(namespace)
        raise
    except BaseException as exc:
        if early:
            _forget_file(namespace)
        _report_uncaught(exc, _program_frames(exc.__traceback__))
        if script:
            _forget_file(namespace)
        raise
    if script:
        _forget_file(namespace)


def _forget_file(namespace: Dict[str, Any]) -> None:
    namespace.pop("__file__", None)
    namespace.pop("__cached__", None)


# -- scripts, directories and zip files ------------------------------------------------------


def _path_importer(path: str) -> Any:
    """What the interpreter checks to run ``path`` as a directory or zip file with a
    ``__main__`` module: a ``sys.path_hooks`` importer that accepts it."""
    for hook in sys.path_hooks:
        try:
            return hook(path)
        except ImportError:
            continue
    return None


def run_path(path: str, args: Sequence[str] = (), launcher: Optional[str] = None) -> None:
    """Run the script (or directory, or zip file) ``path`` as ``python path args...`` would.

    ``launcher`` is the ``sys.path`` entry the interpreter added for the launcher, if any
    (see :func:`launcher_path0`): it is replaced by the script's directory.
    Returns when the program returns; raises what the interpreter would end the process with.
    """
    install()
    file_name = _main_file_name(path)
    if _path_importer(path) is not None:
        _set_path0(launcher, file_name, always=True)
        sys.argv = [path, *args]
        try:
            spec, code = _main_module_details()
        except NotRunnable as exc:
            raise SystemExit(f"{sys.executable}: {exc}") from None
        module = _new_main()
        _globals_from_spec(module.__dict__, spec)
        sys.modules["__main__"] = module
        _execute(code, module.__dict__)
        return
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        sys.stderr.write(
            f"{sys.executable}: can't open file {file_name!r}: [Errno {exc.errno}] {exc.strerror}\n"
        )
        raise SystemExit(2) from None
    _set_path0(launcher, os.path.dirname(os.path.realpath(path)))
    sys.argv = [path, *args]
    compiled = path.endswith(".pyc") or data[:4] == importlib.util.MAGIC_NUMBER
    loader_class: Any = (
        importlib.machinery.SourcelessFileLoader if compiled else importlib.machinery.SourceFileLoader
    )
    module = _new_main()
    namespace = module.__dict__
    namespace["__file__"] = file_name
    if _MAIN_HAS_CACHED:
        namespace["__cached__"] = None
    namespace["__loader__"] = loader_class("__main__", file_name)
    sys.modules["__main__"] = module
    try:
        code = _code_from_file(data, file_name, compiled)
    except Exception as exc:  # SyntaxError, ValueError (null bytes), a bad .pyc
        _report_uncaught(exc, None)
        raise
    _execute(code, namespace, script=True)


def _code_from_file(data: bytes, file_name: str, compiled: bool) -> types.CodeType:
    if not compiled:
        code: types.CodeType = compile(data, file_name, "exec", dont_inherit=True)
        return code
    if data[:4] != importlib.util.MAGIC_NUMBER:
        raise RuntimeError("Bad magic number in .pyc file")
    loaded = marshal.loads(data[16:])
    if not isinstance(loaded, types.CodeType):
        raise RuntimeError("Bad code object in .pyc file")
    return loaded


def _main_module_details() -> Tuple[importlib.machinery.ModuleSpec, types.CodeType]:
    """The spec and code of ``__main__`` in ``sys.path[0]`` (a directory or zip file)."""
    saved = sys.modules.pop("__main__", None)
    try:
        _, spec, code = _module_details("__main__")
        return spec, code
    except NotRunnable as exc:
        if "__main__" in str(exc):
            raise NotRunnable(f"can't find '__main__' module in {sys.path[0]!r}") from exc
        raise
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


# -- modules (-m) -----------------------------------------------------------------------------


def run_module(name: str, args: Sequence[str] = (), launcher: Optional[str] = None) -> None:
    """Run module ``name`` as ``python -m name args...`` would (a package runs its
    ``__main__`` submodule). ``launcher``: see :func:`run_path`."""
    install()
    try:
        cwd: Optional[str] = os.getcwd()
    except OSError:
        cwd = None
    _set_path0(launcher, cwd)
    sys.argv = ["-m", *args]
    try:
        _, spec, code = _module_details(name)
    except NotRunnable as exc:
        raise SystemExit(f"{sys.executable}: {exc}") from None
    except BaseException as exc:  # raised while importing the parent packages
        _report_uncaught(exc, _program_frames(exc.__traceback__))
        raise
    sys.argv[0] = spec.origin or ""
    module = _new_main()
    _globals_from_spec(module.__dict__, spec)
    sys.modules["__main__"] = module
    _execute(code, module.__dict__)


def _module_details(name: str) -> Tuple[str, importlib.machinery.ModuleSpec, types.CodeType]:
    """Name, spec and code of the module ``python -m name`` runs; ``NotRunnable`` with the
    interpreter's message if there is none."""
    if name.startswith("."):
        raise NotRunnable("Relative module names not supported")
    package, _, _ = name.rpartition(".")
    if package:
        already = name in sys.modules
        try:
            __import__(package)
        except ImportError as exc:
            # A missing parent is reported by find_spec below; any other error is the program's.
            if exc.name is None or (exc.name != package and not package.startswith(exc.name + ".")):
                raise
        existing = sys.modules.get(name)
        if existing is not None and not already and not hasattr(existing, "__path__"):
            warnings.warn(
                RuntimeWarning(
                    f"{name!r} found in sys.modules after import of package {package!r}, but "
                    f"prior to execution of {name!r}; this may result in unpredictable behaviour"
                ),
                stacklevel=2,
            )
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        message = f"Error while finding module specification for {name!r} ({type(exc).__name__}: {exc})"
        if name.endswith(".py") and sys.version_info >= (3, 9):
            message += f". Try using '{name[:-3]}' instead of '{name}' as the module name."
        raise NotRunnable(message) from exc
    if spec is None:
        raise NotRunnable(f"No module named {name}")
    if spec.submodule_search_locations is not None:
        if name == "__main__" or name.endswith(".__main__"):
            raise NotRunnable("Cannot use package as __main__ module")
        try:
            return _module_details(name + ".__main__")
        except NotRunnable as exc:
            if name not in sys.modules:
                raise
            raise NotRunnable(f"{exc}; {name!r} is a package and cannot be directly executed") from exc
    loader: Any = spec.loader
    if loader is None:
        raise NotRunnable(f"{name!r} is a namespace package and cannot be executed")
    try:
        code = loader.get_code(name)
    except ImportError as exc:
        raise NotRunnable(str(exc)) from exc
    if code is None:
        raise NotRunnable(f"No code object available for {name}")
    return name, spec, code

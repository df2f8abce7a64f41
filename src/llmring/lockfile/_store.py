"""Finding, reading and safely rewriting lockfiles.

* :func:`find_lockfile` is the one discovery function, used by the runtime and the CLI:
  explicit path → ``$LLMRING_LOCKFILE_PATH`` → the nearest ``llmring.lock`` from the working
  directory up to the project root → the lockfile bundled with the package.
  :func:`write_target` is its counterpart for commands that write: a new lockfile goes to the
  project root, where discovery finds it from every subdirectory.
* Reading uses the stdlib TOML parser (fast); ``tomlkit`` is loaded only to edit.
* :func:`rewrite_lockfile` is the only way llmring writes one: under an inter-process lock it
  re-reads the file, makes the new text (:func:`edit_lockfile` through the ``tomlkit``
  document, so comments and order survive), checks that the result still loads, and replaces
  the file atomically (temp file + ``os.replace``). Concurrent writers serialise; a reader
  never sees a half-written file. A symlinked lockfile is edited where it points.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from llmring.exceptions import LockfileError, LockfileNotFoundError, LockfileParseError
from llmring.lockfile._edit import keep_line_endings
from llmring.lockfile._model import Lockfile
from llmring.lockfile._parse import parse_lockfile

if TYPE_CHECKING:
    import tomlkit

__all__ = [
    "LOCKFILE_NAME",
    "LOCKFILE_PATH_ENV",
    "PROFILE_ENV",
    "ROOT_MARKERS",
    "bundled_lockfile_path",
    "edit_lockfile",
    "find_lockfile",
    "find_project_lockfile",
    "load_lockfile",
    "read_lockfile",
    "rewrite_lockfile",
    "write_lockfile",
    "write_target",
]

LOCKFILE_NAME = "llmring.lock"
LOCKFILE_PATH_ENV = "LLMRING_LOCKFILE_PATH"
PROFILE_ENV = "LLMRING_PROFILE"
#: A directory holding one of these is a project root: discovery does not climb above it.
ROOT_MARKERS = (".git", ".hg", "pyproject.toml", "setup.py", "setup.cfg")
LOCK_TIMEOUT_SECONDS = 30.0


def bundled_lockfile_path() -> Path:
    """The lockfile shipped inside the package (used when no other is found)."""
    return Path(str(resources.files("llmring") / LOCKFILE_NAME))


def _explicit_path(path: str | os.PathLike[str] | None) -> Path | None:
    if path is not None:
        explicit = Path(path)
        if explicit.is_dir():
            raise LockfileNotFoundError(
                f"lockfile {explicit} is a directory; give the path of the file "
                f"(e.g. {explicit / LOCKFILE_NAME})",
                path=str(explicit),
            )
        if not explicit.is_file():
            raise LockfileNotFoundError(
                f"lockfile {explicit} does not exist; create it with: "
                f"llmring lock init --file {explicit}",
                path=str(explicit),
            )
        return explicit
    from_env = os.environ.get(LOCKFILE_PATH_ENV)
    if from_env:
        env_path = Path(from_env)
        if not env_path.is_file():
            raise LockfileNotFoundError(
                f"{LOCKFILE_PATH_ENV}={from_env} names a file that does not exist; "
                f"unset it or create the file with: llmring lock init --file {from_env}",
                path=from_env,
            )
        return env_path
    return None


def _is_root(directory: Path) -> bool:
    return any((directory / marker).exists() for marker in ROOT_MARKERS)


def _search_path(start: Path) -> list[Path]:
    """The directories discovery looks in: ``start``, then its parents up to the project root
    (up to ``/`` when no directory holds a root marker)."""
    directories = []
    for directory in (start, *start.parents):
        directories.append(directory)
        if _is_root(directory):
            break
    return directories


def _project_root(start: Path | None = None) -> Path | None:
    """The nearest directory from ``start`` (default: the working directory) upwards that
    holds a root marker (``ROOT_MARKERS``), or ``None``."""
    last = _search_path((start or Path.cwd()).resolve())[-1]
    return last if _is_root(last) else None


def _nearest(start: Path) -> Path | None:
    for directory in _search_path(start):
        candidate = directory / LOCKFILE_NAME
        if candidate.is_file():
            return candidate
    return None


def find_lockfile(path: str | os.PathLike[str] | None = None, *, start: Path | None = None) -> Path:
    """The lockfile to read: explicit → env → nearest up to the project root → bundled."""
    return (
        _explicit_path(path) or _nearest((start or Path.cwd()).resolve()) or bundled_lockfile_path()
    )


def find_project_lockfile(
    path: str | os.PathLike[str] | None = None, *, start: Path | None = None
) -> Path:
    """Like :func:`find_lockfile`, but never the bundled default: with no project lockfile,
    ``LockfileNotFoundError`` says where discovery looked and how to create one."""
    found = _explicit_path(path) or _nearest((start or Path.cwd()).resolve())
    if found is not None:
        return found
    here = (start or Path.cwd()).resolve()
    searched = _search_path(here)
    where = f"{here}" if len(searched) == 1 else f"{here} or its parents up to {searched[-1]}"
    root = (
        f" (the project root: it holds {_marker(searched[-1])})"
        if _is_root(searched[-1])
        else " (no directory up to / holds a project root marker)"
    )
    target = write_target(start=here)
    raise LockfileNotFoundError(
        f"no project lockfile: no {LOCKFILE_NAME} in {where}{root}, and ${LOCKFILE_PATH_ENV} "
        f"is not set, so llmring uses its bundled default; create {target} with: "
        "llmring lock init",
        path=str(target),
    )


def _marker(directory: Path) -> str:
    return next(marker for marker in ROOT_MARKERS if (directory / marker).exists())


def write_target(path: str | os.PathLike[str] | None = None, *, start: Path | None = None) -> Path:
    """The lockfile a command should change: like discovery, but never the bundled one. With
    no lockfile around, ``llmring.lock`` at the project root (the working directory when no
    directory holds a root marker), which discovery finds from every subdirectory."""
    if path is not None:
        return Path(path)
    if os.environ.get(LOCKFILE_PATH_ENV):
        return Path(os.environ[LOCKFILE_PATH_ENV])
    here = (start or Path.cwd()).resolve()
    return _nearest(here) or (_project_root(here) or here) / LOCKFILE_NAME


def _read_text(path: Path) -> str:
    try:
        # bytes → str keeps CRLF line ends as they are, so an edit changes nothing else
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LockfileNotFoundError(f"lockfile {path} does not exist", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise LockfileError(f"{path}: not UTF-8 text ({exc.reason})", path=str(path)) from None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read ({exc.strerror})", path=str(path)) from None


def read_lockfile(path: Path) -> Lockfile:
    """The validated lockfile at ``path``."""
    lockfile = parse_lockfile(_read_text(path), path)
    if path == bundled_lockfile_path():
        lockfile = dataclasses.replace(lockfile, bundled=True)
    return lockfile


def load_lockfile(path: str | os.PathLike[str] | None = None) -> Lockfile:
    """Discover (see :func:`find_lockfile`) and load a lockfile."""
    return read_lockfile(find_lockfile(path))


def _parse_document(text: str, path: Path | None = None) -> tomlkit.TOMLDocument:
    """The editable ``tomlkit`` document of lockfile text, which must be a valid lockfile."""
    import tomlkit  # only edits need it: reading stays fast
    from tomlkit.exceptions import ParseError

    parse_lockfile(text, path)
    try:
        return tomlkit.parse(text)
    except ParseError as exc:  # valid TOML that tomlkit cannot follow
        label = str(path) if path else "<lockfile>"
        problem = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise LockfileParseError(
            f"{label}:{exc.line}:{exc.col}: cannot edit this file "
            f"(tomlkit: {problem}); edit it by hand",
            path=label,
            line=exc.line,
        ) from None


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lck")


def _real(path: Path) -> Path:
    """The file a write must replace: a symlink's target, never the link itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a temp file in the same directory, fsync,
    ``os.replace``, fsync of the directory. An existing file's permission bits are kept; a new
    file gets the usual ones (0666 less the umask). A symlink's target is replaced."""
    path = _real(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible everywhere (Windows); the replace itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rewrite_lockfile(path: Path, produce: Callable[[str | None], str]) -> Lockfile:
    """Under the write lock: read the current text (``None`` when missing), let ``produce``
    make the new text, check that it loads, and replace the file atomically. A symlink is
    followed: its target is edited, and the lock and temp file sit beside the target."""
    target = _real(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(_lock_path(target), timeout=LOCK_TIMEOUT_SECONDS):
            current = _read_text(target) if target.exists() else None
            new_text = produce(current)
            lockfile = parse_lockfile(new_text, path)
            if new_text != current:
                atomic_write(target, new_text)
            return lockfile
    except Timeout:
        raise LockfileError(
            f"{path}: another process has held the write lock {_lock_path(target)} for over "
            f"{LOCK_TIMEOUT_SECONDS:.0f}s; retry, or remove that file if no llmring is running",
            path=str(path),
        ) from None
    except OSError as exc:
        where = exc.filename or target.parent
        raise LockfileError(
            f"cannot write {path}: {exc.strerror or exc} ({where}); make the directory "
            f"{target.parent} writable, or choose another lockfile with --file or "
            f"${LOCKFILE_PATH_ENV}",
            path=str(path),
        ) from None


def write_lockfile(path: Path, text: str) -> Lockfile:
    """Replace (or create) the lockfile at ``path`` with ``text``, which must load."""
    return rewrite_lockfile(path, lambda _current: text)


def edit_lockfile(
    path: Path,
    change: Callable[[tomlkit.TOMLDocument], object],
    *,
    initial_text: str | None = None,
) -> Lockfile:
    """Apply ``change`` to the TOML document of the lockfile at ``path``, under the write lock.

    ``change`` edits the document in place; what it returns is ignored.

    With ``initial_text``, a missing file starts from that text (else it is an error). The
    changed document must still load (else ``LockfileParseError`` and the file is untouched).
    """
    import tomlkit

    def produce(current: str | None) -> str:
        if current is None:
            if initial_text is None:
                raise LockfileNotFoundError(f"lockfile {path} does not exist", path=str(path))
            current = initial_text
        document = _parse_document(current, path)
        change(document)
        return keep_line_endings(current, tomlkit.dumps(document))

    return rewrite_lockfile(path, produce)

"""Baseline artifacts of earlier runs: find one, download it, extract it safely.

An artifact is a zip built by whoever could push to the repository, or by a fork whose
artifact we mistakenly picked, so ``safe_extract`` treats every archive as hostile: no
absolute paths or ``..``, no symlinks, a file-count cap and a size cap enforced on the bytes
actually inflated (a zip's declared sizes can lie). The security suite reuses it.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import requests

from doorbell_ci import jsonsafe
from doorbell_ci.errors import PublishError
from doorbell_ci.impact.impactmap import FILENAME as IMPACT_MAP_FILE  # what --record-impact leaves in the results
from doorbell_ci.impact.impactmap import MAX_COMPRESSED_BYTES

MAX_FILES = 10_000
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # unpacked; a baseline is a few JSON files
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024  # packed
_CHUNK = 1024 * 1024


class ArtifactError(PublishError):
    """A baseline artifact could not be found, downloaded or read."""


class UnsafeArchiveError(ArtifactError):
    """The archive tries to write outside its folder, holds links, or is too big: nothing was extracted."""


def _checked_name(name: str) -> PurePosixPath:
    """The entry's relative path, or UnsafeArchiveError when it could land outside the folder."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"archive entry with an unusable name {name!r}")
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UnsafeArchiveError(f"archive entry {name!r} is an absolute path")
    path = PurePosixPath(normalised)
    if ".." in path.parts:
        raise UnsafeArchiveError(f"archive entry {name!r} climbs out of the folder with '..'")
    return path


# A central-directory record is 46 bytes plus its name, extra field and comment; a baseline's are short.
_MAX_CENTRAL_RECORD = 46 + 1024 + 1024
_ZIP64_TRAILER = zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator


def _check_central_directory(archive: Path, max_files: int, max_total_bytes: int) -> None:
    """Count the entries and their declared sizes from the raw central directory, before zipfile reads it.

    ``zipfile.ZipFile()`` builds a ZipInfo object for every record of the central directory as it
    opens the file (a zip of 760,000 entries took 430 MiB before ``infolist()`` could be counted),
    and it walks the directory by its byte size, not by the count the end record declares. So the
    end record (ZIP64 too, found by zipfile's own reader) bounds the directory's size, and the
    records are counted and their sizes summed from the bytes, holding nothing per entry.
    Anything malformed is left for zipfile to refuse with its own message.
    """
    with archive.open("rb") as stream:
        end = zipfile._EndRecData(stream)  # noqa: SLF001 - zipfile's own end-record reader, ZIP64 included
        if not end:
            return
        declared = end[zipfile._ECD_ENTRIES_TOTAL]  # noqa: SLF001
        if declared > max_files:
            raise UnsafeArchiveError(f"{archive.name} holds {declared} entries, more than the {max_files} allowed")
        size, offset = end[zipfile._ECD_SIZE], end[zipfile._ECD_OFFSET]  # noqa: SLF001
        if size > max_files * _MAX_CENTRAL_RECORD:
            raise UnsafeArchiveError(f"{archive.name} has a central directory of {size} bytes, too big for "
                                     f"{max_files} entries")
        start = end[zipfile._ECD_LOCATION] - size  # noqa: SLF001 - where zipfile reads it (data may precede the zip)
        if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # noqa: SLF001
            start -= _ZIP64_TRAILER
        if start < 0 or offset < 0:
            return
        stream.seek(start)
        directory = stream.read(size)
    count = position = unpacked = 0
    while position + zipfile.sizeCentralDir <= len(directory):
        record = struct.unpack_from(zipfile.structCentralDir, directory, position)
        if record[0] != zipfile.stringCentralDir:
            return
        count += 1
        if count > max_files:
            raise UnsafeArchiveError(f"{archive.name} holds more than the {max_files} entries allowed "
                                     f"(its end record declares {declared})")
        declared_size = record[zipfile._CD_UNCOMPRESSED_SIZE]  # noqa: SLF001
        if declared_size != 0xFFFFFFFF:  # ZIP64 keeps the real size in the extra field: checked per ZipInfo later
            unpacked += declared_size
        if unpacked > max_total_bytes:
            raise UnsafeArchiveError(f"{archive.name} unpacks to more than {max_total_bytes // (1024 * 1024)} MiB "
                                     "(a decompression bomb?)")
        position += (zipfile.sizeCentralDir + record[zipfile._CD_FILENAME_LENGTH]  # noqa: SLF001
                     + record[zipfile._CD_EXTRA_FIELD_LENGTH] + record[zipfile._CD_COMMENT_LENGTH])  # noqa: SLF001


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


# what zipfile can inflate here; anything else (or an encrypted entry) would fail half-way through
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class _Layout:
    """The tree the entries describe, refused up front when two entries claim the same place.

    Without this a duplicate name, or a file ``a`` next to ``a/b``, fails only when the second
    entry is moved into place, after the first one was: extraction would no longer be all or nothing.
    """

    def __init__(self) -> None:
        self.files: set[PurePosixPath] = set()
        self.folders: set[PurePosixPath] = set()

    def add(self, info: zipfile.ZipInfo, relative: PurePosixPath) -> None:
        if not relative.parts:  # "." or "./": the destination itself
            if info.is_dir():
                return
            raise UnsafeArchiveError(f"archive entry {info.filename!r} names the folder itself, not a file")
        parents = set(relative.parents) - {PurePosixPath(".")}
        if relative in self.files or (not info.is_dir() and relative in self.folders) or parents & self.files:
            raise UnsafeArchiveError(f"archive entry {info.filename!r} collides with another entry of the same path")
        self.folders |= parents
        (self.folders if info.is_dir() else self.files).add(relative)


def safe_extract(archive: Path, destination: Path, max_files: int = MAX_FILES,
                 max_total_bytes: int = MAX_TOTAL_BYTES) -> list[Path]:
    """Extract ``archive`` into ``destination`` (created), all or nothing; returns the files written.

    Every entry is checked before anything is written, then the bytes are counted while
    inflating, so a bomb whose headers under-declare its size stops at the cap too.

    Exception contract (fuzzed by tests/security/test_fuzz_artifacts.py and tests/security/fuzz/):
    whatever the archive holds, only :class:`ArtifactError` escapes, as
    :class:`UnsafeArchiveError` for an entry that would land outside ``destination``, a link, a
    name collision or a size/count cap, else for an unreadable zip (bad CRC, damaged stream,
    encryption, unknown compression) or a file-system error. On any error nothing new is left in
    ``destination`` (when it did not already hold files of the same names).
    """
    try:
        _check_central_directory(archive, max_files, max_total_bytes)
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
            if len(infos) > max_files:
                raise UnsafeArchiveError(
                    f"{archive.name} holds {len(infos)} entries, more than the {max_files} allowed")
            declared = 0
            plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
            layout = _Layout()
            for info in infos:
                relative = _checked_name(info.filename)
                if _is_symlink(info):
                    raise UnsafeArchiveError(f"archive entry {info.filename!r} is a symbolic link")
                if info.flag_bits & 0x1:
                    raise ArtifactError(f"archive entry {info.filename!r} is encrypted; a baseline never is")
                if info.compress_type not in _METHODS:
                    raise ArtifactError(f"archive entry {info.filename!r} uses compression method "
                                        f"{info.compress_type}, which is not supported")
                layout.add(info, relative)
                declared += info.file_size
                if declared > max_total_bytes:
                    raise UnsafeArchiveError(
                        f"{archive.name} unpacks to more than {max_total_bytes // (1024 * 1024)} MiB "
                        "(a decompression bomb?)")
                plan.append((info, relative))
            destination.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=destination))
            try:
                written = _inflate(bundle, plan, staging, max_total_bytes, archive.name)
                final = []
                for path in written:
                    target = destination / path.relative_to(staging)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    final.append(target)
                return final
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, ValueError, NotImplementedError) as error:
        # ValueError: a header zipfile cannot make sense of; NotImplementedError: a "zip version" it does not
        # know; the others: a damaged compressed stream
        raise ArtifactError(f"{archive.name} is not a readable zip: {error}") from None
    except OSError as error:
        raise ArtifactError(f"could not extract {archive.name}: {error.strerror or error}") from None


def _inflate(bundle: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, PurePosixPath]], staging: Path,
             max_total_bytes: int, archive_name: str) -> list[Path]:
    total = 0
    written: list[Path] = []
    root = staging.resolve()
    for info, relative in plan:
        target = staging.joinpath(*relative.parts)
        if not target.resolve().is_relative_to(root):
            raise UnsafeArchiveError(f"archive entry {info.filename!r} resolves outside the folder")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with bundle.open(info) as source, open(target, "wb") as sink:
            while chunk := source.read(_CHUNK):
                total += len(chunk)
                if total > max_total_bytes:
                    raise UnsafeArchiveError(
                        f"{archive_name} inflates past {max_total_bytes // (1024 * 1024)} MiB "
                        "(a decompression bomb?)")
                sink.write(chunk)
        written.append(target)
    return written


# --- finding and downloading a baseline artifact ---------------------------------------------


@dataclass(frozen=True)
class ArtifactRef:
    id: int
    name: str
    created_at: str
    run_id: int | None
    head_sha: str | None
    size: int


def pick_baseline(artifacts: list[dict[str, Any]], name: str, default_branch: str, repository_id: int,
                  now: datetime | None = None) -> list[ArtifactRef]:
    """Usable candidates, newest first: our name, default branch, not expired, built by this repository.

    ``head_repository_id`` differing from the repository's id means a fork's run made it; a fork can
    write anything into its artifact, so it is never a baseline.
    """
    now = now or datetime.now(UTC)
    usable: list[ArtifactRef] = []
    for artifact in artifacts:
        run = artifact.get("workflow_run") or {}
        if artifact.get("name") != name or artifact.get("expired"):
            continue
        expires = artifact.get("expires_at")
        if isinstance(expires, str) and _parse_time(expires) is not None and _parse_time(expires) <= now:
            continue
        if run.get("head_branch") != default_branch or run.get("head_repository_id") != repository_id:
            continue
        usable.append(ArtifactRef(id=int(artifact["id"]), name=name, created_at=str(artifact.get("created_at") or ""),
                                  run_id=run.get("id"), head_sha=run.get("head_sha"),
                                  size=int(artifact.get("size_in_bytes") or 0)))
    usable.sort(key=lambda ref: ref.created_at, reverse=True)
    return usable


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class ArtifactClient:
    """The three calls a baseline needs, on a ``requests`` session (PyGithub cannot download artifacts)."""

    def __init__(self, api_url: str, repository: str, token: str, session: requests.Session | None = None,
                 timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        # plain application/json: GitHub accepts it, and the OpenAPI description (so Prism) lists only it
        headers = {"Accept": "application/json", "X-GitHub-Api-Version": "2022-11-28"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.session.get(f"{self.api_url}{path}", params=params, headers=self._headers(),
                                    timeout=self.timeout)
        if response.status_code != 200:
            raise ArtifactError(f"GET {path} answered {response.status_code}: {_message(response)}")
        try:
            return jsonsafe.loads(response.content)
        except (ValueError, RecursionError) as error:  # not JSON, or NaN / Infinity, which JSON does not have
            raise ArtifactError(f"GET {path} answered with unusable JSON: {error}") from None

    def repository_facts(self) -> tuple[int, str]:
        data = self._get_json(f"/repos/{self.repository}")
        return int(data["id"]), str(data["default_branch"])

    def list_artifacts(self, name: str) -> list[dict[str, Any]]:
        data = self._get_json(f"/repos/{self.repository}/actions/artifacts", {"name": name, "per_page": 100})
        artifacts = data.get("artifacts") if isinstance(data, dict) else None
        return [a for a in artifacts or [] if isinstance(a, dict)]

    def run_usable(self, run_id: int, workflow_path: str | None,
                   conclusions: frozenset[str] = frozenset({"success"})) -> bool:
        """The run ended in one of ``conclusions`` (a baseline: success), and (when we know our workflow's
        file) it is a run of the same workflow."""
        data = self._get_json(f"/repos/{self.repository}/actions/runs/{run_id}")
        if data.get("conclusion") not in conclusions:
            return False
        return workflow_path is None or data.get("path") == workflow_path

    def download(self, artifact_id: int, target: Path, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
        """Download the zip: the API answers 302 to a blob URL valid for a minute, fetched without our token."""
        path = f"/repos/{self.repository}/actions/artifacts/{artifact_id}/zip"
        response = self.session.get(f"{self.api_url}{path}", headers=self._headers(), allow_redirects=False,
                                    timeout=self.timeout)
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            if urlparse(location).scheme not in ("https", "http"):
                raise ArtifactError(f"GET {path} redirected to an unusable address {location!r}")
            # a fresh request: the Authorization header must not reach the blob host
            response = requests.get(location, stream=True, timeout=self.timeout)
        elif response.status_code == 200:
            pass
        else:
            raise ArtifactError(f"GET {path} answered {response.status_code}: {_message(response)}")
        if response.status_code != 200:
            raise ArtifactError(f"the artifact download answered {response.status_code}")
        size = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as sink:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactError(f"artifact {artifact_id} is larger than {max_bytes // (1024 * 1024)} MiB")
                sink.write(chunk)
        return target


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason or ""
    return str(data.get("message", "")) if isinstance(data, dict) else ""


@dataclass
class BaselineFetch:
    source: str  # "artifact", "repo" or "none"
    directory: Path | None
    detail: str  # one line for the log and the job summary
    impact_map: Path | None = None  # fetch_history: the impact.json.gz kept next to history.json


def workflow_path(workflow_ref: str | None) -> str | None:
    """``.github/workflows/ci.yml`` from GITHUB_WORKFLOW_REF (``owner/repo/.github/workflows/ci.yml@refs/...``)."""
    if not workflow_ref or "/.github/" not in workflow_ref:
        return None
    return ".github/" + workflow_ref.split("/.github/", 1)[1].split("@", 1)[0]


def fetch_baseline(client: ArtifactClient | None, name: str, destination: Path, repo_baselines: Path,
                   max_candidates: int = 5, workflow: str | None = None) -> BaselineFetch:
    """The newest usable baseline artifact, else the repository's baselines/ folder, saying which.

    Usable: see ``pick_baseline``; and its run succeeded, in the same workflow file when ``workflow``
    (a path such as ``.github/workflows/ci.yml``) is given.
    """
    reason = "no GitHub API access (not in Actions, or no token)"
    if client is not None:
        try:
            repository_id, default_branch = client.repository_facts()
            candidates = pick_baseline(client.list_artifacts(name), name, default_branch, repository_id)
            reason = f"no usable artifact named {name!r} from {default_branch}"
            for ref in candidates[:max_candidates]:
                if ref.run_id is not None and not client.run_usable(ref.run_id, workflow):
                    continue
                with tempfile.TemporaryDirectory() as scratch:
                    archive = client.download(ref.id, Path(scratch) / "baseline.zip")
                    shutil.rmtree(destination, ignore_errors=True)
                    safe_extract(archive, destination)
                return BaselineFetch("artifact", destination,
                                     f"baseline from artifact {name!r} #{ref.id} (run {ref.run_id}, {ref.created_at})")
        except (ArtifactError, requests.RequestException, KeyError, ValueError, TypeError) as error:
            reason = f"artifact lookup failed: {error}"
    if repo_baselines.is_dir():
        return BaselineFetch("repo", repo_baselines, f"baseline from the repository's {repo_baselines} ({reason})")
    return BaselineFetch("none", None, f"no baseline: {reason}, and no {repo_baselines} folder")


HISTORY_FILE = "history.json"
MAX_IMPACT_MAP_BYTES = MAX_COMPRESSED_BYTES  # the map's reader refuses more anyway
HISTORY_CONCLUSIONS = frozenset({"success", "failure"})  # a red run's history is evidence too


def _kept(folder: Path, name: str, max_bytes: int) -> Path | None:
    """``folder/name`` if it is a regular file (never a link, a FIFO or a folder) of at most ``max_bytes``."""
    path = folder / name
    try:
        facts = os.lstat(path)
    except OSError:
        return None
    return path if stat.S_ISREG(facts.st_mode) and facts.st_size <= max_bytes else None


def fetch_history(client: ArtifactClient | None, name: str, destination: Path, max_candidates: int = 5,
                  workflow: str | None = None) -> BaselineFetch:
    """history.json and impact.json.gz from the newest usable results artifact ``name`` of the default branch.

    The same choice as a baseline (``pick_baseline``: our name, the default branch, this repository,
    not a fork, not expired; the same workflow) except that a failed run counts: its history is
    evidence. The archive goes through ``safe_extract`` into a scratch folder and only history.json
    and the impact map (``--record-impact``, at most ``MAX_IMPACT_MAP_BYTES``) are kept, as regular
    files; whether they are what they claim is the run's readers' job (``history_from``, ``impact_map``).
    """
    if client is None:
        return BaselineFetch("none", None, "no history: no GitHub API access (not in Actions, or no token)")
    reason = f"no usable artifact named {name!r} from the default branch"
    try:
        repository_id, default_branch = client.repository_facts()
        candidates = pick_baseline(client.list_artifacts(name), name, default_branch, repository_id)
        for ref in candidates[:max_candidates]:
            if ref.run_id is not None and not client.run_usable(ref.run_id, workflow, HISTORY_CONCLUSIONS):
                continue
            with tempfile.TemporaryDirectory() as scratch:
                archive = client.download(ref.id, Path(scratch) / "results.zip")
                safe_extract(archive, Path(scratch) / "results")
                history = _kept(Path(scratch) / "results", HISTORY_FILE, MAX_TOTAL_BYTES)
                impact_map = _kept(Path(scratch) / "results", IMPACT_MAP_FILE, MAX_IMPACT_MAP_BYTES)
                if history is None and impact_map is None:
                    reason = f"artifact {name!r} #{ref.id} holds no {HISTORY_FILE} and no {IMPACT_MAP_FILE}"
                    continue
                destination.mkdir(parents=True, exist_ok=True)
                for found in (history, impact_map):
                    if found is not None:
                        shutil.copyfile(found, destination / found.name)
            what = " and ".join(kind for kind, found in (("history", history), ("impact map", impact_map)) if found)
            return BaselineFetch("artifact", destination / HISTORY_FILE if history else None,
                                 f"{what} from artifact {name!r} #{ref.id} (run {ref.run_id}, {ref.created_at})",
                                 impact_map=destination / IMPACT_MAP_FILE if impact_map else None)
    except (ArtifactError, requests.RequestException, OSError, KeyError, ValueError, TypeError) as error:
        reason = f"artifact lookup failed: {error}"
    return BaselineFetch("none", None, f"no history: {reason}")

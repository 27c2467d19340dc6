"""``ManifestDataset``: a JSONL or CSV manifest of files and text, read as a stream of validated samples.

One record per JSONL line (or CSV row, same column names)::

    {"id": "a", "image": "imgs/a.png", "text": "...", "audio": "wav/a.wav", "label": 3,
     "targets": {"snr_db": -4.2}, "split": "train"}

- ``id`` is required and unique. Strings are kept as they are; JSON integers are accepted and turned
  into their decimal string with ``str()`` (``7`` → ``"7"``), anything else is refused. An id may
  appear once: every later record with an id already seen is rejected as a duplicate, whether or
  not the first record was usable (so the outcome depends only on the input order).
- ``image`` and ``audio`` are file paths relative to the manifest's folder (absolute paths are
  allowed when they point inside it). A path that leaves the folder is refused unless
  ``allow_outside=True``, and the check is on the *resolved* path (``os.path.realpath`` under the
  folder's own real path): ``../../etc/passwd``, ``/etc/passwd``, a sibling folder (``../m2/x.png``
  beside folder ``m``), a symbolic link (or a chain of them, or a linked folder on the way) whose
  target lies outside are all refused; links that stay inside the folder are followed. The file
  read is the resolved one, and it must be a regular file: a folder, FIFO, socket or device named
  as an image is refused without being opened (a FIFO would block the reader). A hard link is the
  file itself under another name, in the folder: it is read (whoever can make one in the folder
  can copy the file there just as well). Each file is checked again just before it is decoded,
  so a path swapped for a link or a FIFO between the two is refused too.
- A column named after a modality registered with ``mmgraph.modality.register_modality`` holds
  that modality's value, read as its ``record`` kind says (a file path checked like ``image``, a
  string, or a JSON value; a CSV cell of a JSON kind is parsed as JSON) and turned into what its
  ``validate`` takes by its ``from_record`` hook.
- Any modality may be absent (at least one must be given); ``label`` (an int: class id, a float:
  regression value, or a string: class name), ``targets`` (name → number, or name → class name)
  and ``split`` (``train``/``val``/``test``) are optional. A record without ``split`` belongs to
  ``train``: a manifest without the column is one ``train`` split.
- All labels of a manifest are of one kind, set by the first record that has one: integers,
  floats or class names; a label of another kind is refused, naming the first label's line (an
  integer is never taken for a class name, nor ``"3"`` for class 3). The same holds per target
  name: a target is all numbers (a regression task) or all class names (a classification task).
- **Class names.** A label pass over the manifest, before any file is decoded, collects the
  names of the records that pass the checks needing no decoding; class ``k`` is the ``k``-th name in
  sorted (code point) order: ``["high", "low", "mid"]`` → 0, 1, 2. ``ManifestDataset.class_names()``
  holds them (task → names); records then carry the class ids, so whoever decodes them
  (``mmgraph convert``'s workers, ``--shard`` parts on other machines) reads the same ids, and the
  tasks carry the names (``Task.class_names``, kept in ``meta.json`` and a run's ``run.json``). A
  task with a single class name is refused (a classifier needs two classes). Given names
  (``class_names=``: a trained run's, when it reads new data) are used as they are for their tasks:
  a name not among them rejects its record (``mmgraph predict`` and ``evaluate`` say so in a
  warning; leave the label out of a record only to be predicted). Class ids given as integers are
  read as ids, as before.
- In a CSV file an empty cell is an absent value, ``label`` is parsed as an int when it looks
  like one, as a float when it looks like one, and is a class name otherwise; ``targets`` holds a
  JSON object (``{"snr_db": -4.2}``, ``{"mood": "calm"}``).
  An unknown column, a missing ``id`` column or a repeated column is an error for the whole file.

Records are read one at a time (a manifest may have millions of lines): memory grows only with
the set of ids seen, for the duplicate check. Every refused record becomes a ``Rejection`` (record
number, line, id when known, reason); everything ``MultimodalSample`` refuses (unreadable image,
malformed WAV, empty text, negative class, ...) is refused with its message as the reason.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import math
import os
import re
import stat
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmgraph.datasets.base import MultimodalDataset
from mmgraph.graph.config import GraphConfig
from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS, PathLike, read_audio, read_image
from mmgraph.modality import MODALITIES, ModalitySpec, check_text
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task
from mmgraph.typing import BUILTIN_MODALITIES

log = logging.getLogger(__name__)

VALID_KEYS = ("audio", "id", "image", "label", "split", "targets", "text")
"""The columns of every manifest; a registered modality's name is a column too (``valid_keys()``)."""
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = "train"
MANIFEST_SUFFIXES = (".jsonl", ".csv")
LABEL_TASK = "label"
"""Name of the task inferred from the ``label`` column."""

_BAD_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes


@dataclass(frozen=True)
class Rejection:
    """A record that was not converted, and why.

    Attributes:
        record: 0-based number of the record in input order (blank lines are not records).
        line: 1-based line where the record starts (``None`` for records of a built-in dataset).
        id: the record's id when it could be read.
        reason: what is wrong, naming the field.
    """

    record: int
    line: int | None
    id: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "line": self.line, "id": self.id, "reason": self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"record {self.record}"
        return f"{where}{'' if self.id is None else f' (id {self.id!r})'}: {self.reason}"


@dataclass(frozen=True)
class ManifestRecord:
    """One manifest record after the checks that need no decoding (structure, ids, paths, text).

    Attributes:
        index: 0-based record number in input order.
        line: 1-based line where the record starts.
        id: the record's id (``None`` when it is missing or unusable).
        split: ``train``, ``val`` or ``test``.
        fields: the present values: ``image``/``audio`` (and other file modalities) as resolved
            absolute paths, ``text``, registered modalities' values as read, ``label``, ``targets``
            (class names as their class ids, except in ``ManifestDataset.label_pass``).
        reason: why the record is refused, or ``None`` when it passed.
        confined: its file paths were checked to stay inside the manifest's folder (no
            ``allow_outside``): decoding refuses a path that no longer resolves to itself.
    """

    index: int
    line: int
    id: str | None
    split: str = DEFAULT_SPLIT
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    confined: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None

    def rejection(self, reason: str | None = None) -> Rejection:
        return Rejection(self.index, self.line, self.id, reason or self.reason or "")

    def to_sample(self, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> MultimodalSample:
        """Decode the files into a validated sample (raises ``ValueError``/``TypeError``)."""
        if not self.ok:
            raise ValueError(self.reason)
        f = self.fields
        for key in sorted(f):  # the files may have changed since the record was checked (minutes, in convert)
            if key in MODALITIES and MODALITIES.get(key).record == "file":
                _recheck_file(key, f[key], confined=self.confined)
        image = None
        if "image" in f:
            image = _decode("image", lambda: read_image(f["image"], max_pixels=max_image_pixels), f["image"])
        audio, rate = None, None
        if "audio" in f:
            audio, rate = _decode("audio", lambda: read_audio(f["audio"]), f["audio"])
        extra = {m: _from_record(MODALITIES.get(m), f[m]) for m in sorted(f)
                 if m in MODALITIES and m not in BUILTIN_MODALITIES}
        return MultimodalSample(
            image=image, text=f.get("text"), audio=audio, sample_rate=rate, extra=extra or None, y=f.get("label"),
            targets=f.get("targets"), id=self.id, max_image_pixels=max_image_pixels,
        )

    def load(self, *, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> MultimodalSample | Rejection:
        """``to_sample()``, or the ``Rejection`` carrying the reason it failed."""
        if not self.ok:
            return self.rejection()
        try:
            return self.to_sample(max_image_pixels=max_image_pixels)
        except (ValueError, TypeError) as exc:
            return self.rejection(str(exc))


_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a media file (``None``: it is a regular file).

    Only ``stat`` is called: a FIFO or a device is recognised without opening it (opening a FIFO
    blocks until a writer comes).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:  # a loop of symbolic links, a permission denied on the way
        return f"cannot read it ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return "not a regular file ({})".format(next((kind for is_kind, kind in _NOT_REGULAR if is_kind(mode)),
                                                 "not a file"))


def is_inside(path: str, folder_prefix: str) -> bool:
    """Whether ``path`` lies under the folder whose path, ending in a separator, is ``folder_prefix``.

    The separator matters: folder ``/data/m`` must not contain ``/data/m2/x.png``.
    """
    return path.startswith(folder_prefix)


def _recheck_file(key: str, path: str, *, confined: bool) -> None:
    """Just before decoding: ``path`` is still a regular file and, when confined, still resolves to itself."""
    if confined and os.path.realpath(path) != path:
        raise ValueError(f"{key}: {Path(path).name} changed since the manifest was read: its path now goes "
                         f"through a symbolic link; refused")
    problem = file_problem(path)
    if problem is not None:
        raise ValueError(f"{key}: {problem}: {Path(path).name} (changed since the manifest was read)")


# Decoder errors that read_image/read_audio might still let through (defence in depth: struct.error
# inside scipy): one bad file must reject its record, not stop a conversion of millions.
_DECODER_ERRORS = (struct.error, OSError, EOFError, IndexError, KeyError)


def _decode(key: str, read: Callable[[], Any], path: str) -> Any:
    try:
        return read()
    except _DECODER_ERRORS as exc:
        raise ValueError(f"{key}: cannot decode {Path(path).name}: malformed file ({exc})") from None


def _from_record(spec: ModalitySpec, value: Any) -> Any:
    """A registered modality's manifest value turned into what its ``validate`` takes.

    The hook is user code: whatever it raises rejects the record, with a reason that names the field.
    """
    if spec.from_record is None:
        return value
    try:
        return spec.from_record(value)
    except (ValueError, TypeError, *_DECODER_ERRORS) as exc:
        reason = str(exc)
        if reason.startswith(f"{spec.name}:"):
            raise
        what = Path(value).name if spec.record == "file" else _shown(value)
        raise ValueError(f"{spec.name}: cannot read {what}: {reason or type(exc).__name__}") from None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
             int: "integer", float: "number"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KINDS = {"integer": "an integer (class id)", "float": "a float (regression value)",
          "number": "a number (regression value)", "name": "a class name (string)"}
"""What a label or target value is, as the reasons of the kind rule word it."""
_SHOWN_NAMES = 10
"""Class names listed in a reason, at most."""


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(map(repr, names[:_SHOWN_NAMES]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOWN_NAMES else "")


class _RecordChecker:
    """The checks of one pass over a manifest (holds the ids seen and the kind of each label and target).

    Args:
        class_names: task → class names: a string label (or target) of such a task becomes its class id
            (a name not among them rejects its record).
        collect: the label pass: class names are kept as the strings (those of tasks in
            ``class_names`` checked to be among them).
    """

    def __init__(self, root: Path, *, allow_outside: bool, from_csv: bool,
                 class_names: Mapping[str, Sequence[str]], collect: bool) -> None:
        self.root = root
        self.root_str = str(root)
        self.root_prefix = _with_separator(self.root_str)
        self.real_prefix = _with_separator(os.path.realpath(self.root_str))  # what paths resolve under
        self.allow_outside = allow_outside
        self.from_csv = from_csv
        self.seen_ids: set[str] = set()
        self.class_ids = {task: {name: k for k, name in enumerate(names)} for task, names in class_names.items()}
        self.collect = collect
        self.first_kind: dict[str, tuple[str, int]] = {}  # field ("label", "targets['mood']") → (kind, line)

    def check(self, index: int, line: int, obj: dict[str, Any] | None, error: str | None) -> ManifestRecord:
        if error is not None:  # obj, when given, holds what could be read of the record: its id
            rid = None
            if obj is not None:
                rid, bad = self._id(obj.get("id"))
                if bad is None and rid not in self.seen_ids:
                    self.seen_ids.add(rid)
            return ManifestRecord(index, line, rid, reason=error)
        rid, reason = self._id(obj.get("id"))
        if reason is None:
            if rid in self.seen_ids:
                return ManifestRecord(index, line, rid, reason=f"duplicate id {rid!r} (an earlier record has it)")
            self.seen_ids.add(rid)
        keys = valid_keys()
        unknown = sorted(set(obj) - set(keys))
        if unknown:
            return ManifestRecord(index, line, rid, reason=f"unknown keys {unknown}; valid keys: {keys}")
        if reason is not None:
            return ManifestRecord(index, line, rid, reason=reason)
        split = obj.get("split")
        if split is None:
            split = DEFAULT_SPLIT
        elif split not in SPLITS:
            reason = f"split: expected one of {list(SPLITS)}, got {_shown(split)}"
            return ManifestRecord(index, line, rid, reason=reason)
        fields: dict[str, Any] = {}
        for key in sorted(set(obj) & set(MODALITIES.list())):
            if obj[key] is None:
                continue
            fields[key], reason = self._modality(key, obj[key])
            if reason is not None:
                return ManifestRecord(index, line, rid, split, reason=reason)
        if not fields:
            names = ["image", "text", "audio"] + [m for m in MODALITIES.list() if m not in BUILTIN_MODALITIES]
            return ManifestRecord(
                index, line, rid, split, reason=f"no modality: give at least one of {', '.join(map(repr, names))}"
            )
        if obj.get("label") is not None:
            fields["label"], reason = self._label(obj["label"], line)
            if reason is not None:
                return ManifestRecord(index, line, rid, split, reason=reason)
        if obj.get("targets") is not None:
            fields["targets"], reason = self._targets(obj["targets"], line)
            if reason is not None:
                return ManifestRecord(index, line, rid, split, reason=reason)
        # names become ids last: a record refused for anything else is refused for it in the label pass
        # too, so a name only such a record has (which the pass did not count) is never the reason given
        reason = self._name_ids(fields)
        if reason is not None:
            return ManifestRecord(index, line, rid, split, reason=reason)
        return ManifestRecord(index, line, rid, split, fields, confined=not self.allow_outside)

    def _id(self, value: Any) -> tuple[str | None, str | None]:
        if value is None:
            return None, "missing 'id'"
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None, f"id: expected a string (or an integer), got {_json_type(value)} {_shown(value)}"
        rid = value if isinstance(value, str) else str(value)  # JSON integer ids: explicit, documented
        if not rid.strip():
            return None, "id: must not be empty"
        return rid, None

    def _path(self, key: str, value: Any) -> tuple[str | None, str | None]:
        if not isinstance(value, str):
            return None, f"{key}: expected a file path (a string), got {_json_type(value)} {_shown(value)}"
        if not value.strip() or "\x00" in value:
            return None, f"{key}: not a usable file path: {_shown(value)}"
        # os.path on strings, not pathlib: this runs for every file of every record (pathlib is ~5x slower)
        joined = os.path.join(self.root_str, value)  # join keeps an absolute value as is
        full = os.path.normpath(joined)  # the path as written ("a/../b" is "b"): for the message only
        # what the system would open: links resolved component by component, so "link/.." is the
        # link target's parent, not the folder "link" sits in (normpath would say the latter)
        real = os.path.realpath(joined)
        if not self.allow_outside and not is_inside(real, self.real_prefix):
            how = (f"resolves through a symbolic link to {real}, outside the manifest folder {self.root}"
                   if is_inside(full, self.root_prefix) else f"leaves the manifest folder {self.root}")
            return None, (f"{key}: path {value!r} {how} (paths must stay inside it; to allow others: "
                          f"--allow-outside on the command line, allow_outside=True in Python)")
        problem = file_problem(real)
        if problem == "file not found":
            return None, f"{key}: file not found: {value}"
        if problem is not None:  # "image: not a regular file: x.png (a FIFO)"
            head, _, detail = problem.partition(" (")
            return None, f"{key}: {head}: {value}" + (f" ({detail}" if detail else "")
        return real, None

    def _modality(self, key: str, value: Any) -> tuple[Any, str | None]:
        """A modality's value as its ``record`` kind reads it (text is validated now: tokenizers are fit on it)."""
        record = MODALITIES.get(key).record
        if record == "file":
            return self._path(key, value)
        if key == "text":
            try:
                return check_text(value), None
            except (TypeError, ValueError) as exc:
                return None, str(exc)
        if record == "json" and self.from_csv:
            try:
                return json.loads(value, object_pairs_hook=_no_duplicate_keys), None
            except (json.JSONDecodeError, _DuplicateKey):
                return None, f"{key}: expected a JSON value in the CSV cell, got {_shown(value)}"
        return value, None

    def _label(self, value: Any, line: int) -> tuple[int | float | str | None, str | None]:
        expected = "an integer (class id), a number (regression value) or a class name (string)"
        if self.from_csv:
            try:
                label: int | float | str = int(value)
            except ValueError:
                try:
                    label = float(value)
                except ValueError:
                    label = value  # a CSV cell that is no number is a class name
        elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None, f"label: expected {expected}, got {_json_type(value)} {_shown(value)}"
        else:
            label = value
        if isinstance(label, float) and not math.isfinite(label):
            return None, (f"label: {_shown(value)} is not a label (a class is an integer >= 0 or a class name, a "
                          f"regression value a finite number; leave the label out of an unlabelled record)")
        kind = "name" if isinstance(label, str) else "integer" if isinstance(label, int) else "float"
        reason = _empty_name("label", label) or self._same_kind("label", "label", value, kind, line)
        if reason is not None:
            return None, reason
        return label, None

    def _targets(self, value: Any, line: int) -> tuple[dict[str, Any] | None, str | None]:
        if self.from_csv:
            try:
                value = json.loads(value, object_pairs_hook=_no_duplicate_keys)
            except (json.JSONDecodeError, _DuplicateKey):
                return None, f'targets: expected a JSON object like {{"snr_db": -4.2}}, got {_shown(value)}'
        if not isinstance(value, dict):
            return None, f"targets: expected an object of name → number, got {_json_type(value)} {_shown(value)}"
        out: dict[str, Any] = {}
        for name in sorted(value):  # sorted: which target sets its kind first does not depend on key order
            item, where = value[name], f"targets[{name!r}]"
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                return None, (f"{where}: expected a number (regression value) or a class name (string), got "
                              f"{_json_type(item)} {_shown(item)}")
            kind = "name" if isinstance(item, str) else "number"
            reason = _empty_name(where, item) or self._same_kind(where, f"{name!r} target", item, kind, line)
            if reason is not None:
                return None, reason
            out[name] = item
        return out, None

    def _same_kind(self, where: str, what: str, value: Any, kind: str, line: int) -> str | None:
        """Why ``value`` (of ``kind``) breaks the rule that a field's values are all of its first value's kind.

        ``where`` names the field (``targets['mood']``), ``what`` its values (``'mood' target``).
        """
        first, first_line = self.first_kind.setdefault(where, (kind, line))
        if kind == first:
            return None
        rule = ("labels must be all integers (class ids), all floats (regression values) or all class names "
                "(strings)" if where == "label" else
                "a target is all numbers (regression) or all class names (classification)")
        return f"{where}: {_shown(value)} is {_KINDS[kind]} but the manifest's first {what} (line {first_line}) is " \
               f"{_KINDS[first]}: {rule}"

    def _name_ids(self, fields: dict[str, Any]) -> str | None:
        """Turn the class names among ``fields``' label and targets into class ids; why not, if a name is unknown."""
        if isinstance(fields.get("label"), str):
            fields["label"], reason = self._class_id(LABEL_TASK, fields["label"])
            if reason is not None:
                return reason
        targets = fields.get("targets", {})
        for name in sorted(targets):
            if isinstance(targets[name], str):
                targets[name], reason = self._class_id(name, targets[name])
                if reason is not None:
                    return reason
        return None

    def _class_id(self, task: str, name: str) -> tuple[int | str | None, str | None]:
        """The class id of a class name (in the label pass: the name itself)."""
        ids = self.class_ids.get(task)
        if ids is not None and name in ids:
            return (name if self.collect else ids[name]), None
        if ids is None and self.collect:
            return name, None
        known = f"the classes: {_listed(list(ids))}" if ids else "no class names are known"
        return None, (f"{_field_of(task)}: {_shown(name)} is not a known class ({known}); use one of those names, "
                      f"or leave it out (an unlabelled record is still predicted)")


def _field_of(task: str) -> str:
    """The manifest field a task reads: ``label``, or ``targets['NAME']``."""
    return "label" if task == LABEL_TASK else f"targets[{task!r}]"


def _empty_name(where: str, value: Any) -> str | None:
    """Why ``value`` is no class name: it is empty (checked before the kind rule: it sets no kind)."""
    if isinstance(value, str) and not value.strip():
        return f"{where}: {_shown(value)} is not a class name (it is empty); leave it out of an unlabelled record"
    return None


def _with_separator(folder: str) -> str:
    return folder if folder.endswith(os.sep) else folder + os.sep


def _utf8_error(raw: bytes, exc: UnicodeDecodeError) -> tuple[dict[str, Any] | None, str]:
    """The reason for a line that is not UTF-8, naming the field when the line is JSON otherwise, and
    ``{"id": ...}`` when the record's id is readable (else ``None``)."""
    where, readable = "", None
    try:  # undecodable bytes become lone surrogates, which JSON parsing keeps as they are
        obj = json.loads(raw.decode("utf-8", errors="surrogateescape"))
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict):
        bad = [k for k, v in obj.items() if _BAD_UTF8.search(k + json.dumps(v, ensure_ascii=False))]
        where = f"{bad[0]}: " if bad and not _BAD_UTF8.search(bad[0]) else ""
        rid = obj.get("id")
        if rid is not None and not _BAD_UTF8.search(json.dumps(rid, ensure_ascii=False)):
            readable = {"id": rid}
    reason = f"{where}not valid UTF-8 ({exc.reason}: byte {raw[exc.start:exc.start + 1]!r} at position {exc.start})"
    return readable, reason


_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),  # UTF-32 LE starts like UTF-16 LE
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _wide_encoding(path: Path) -> tuple[str, bytes] | None:
    """``(encoding, byte-order mark)`` of a file that starts with a UTF-16 or UTF-32 byte-order mark."""
    with open(path, "rb") as f:
        head = f.read(4)
    return next(((name, bom) for bom, name in _WIDE_BOMS if head.startswith(bom)), None)


def _wide_rows(path: Path, encoding: str, bom: bytes) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Every non-blank line of a UTF-16/32 manifest, refused with a reason naming the encoding.

    The lines are split in the file's own encoding (splitting its bytes at ``\\n`` would cut
    characters in half), so each rejection names the right line.
    """
    reason = (f"not valid UTF-8: the manifest is {encoding} (it starts with the byte-order mark "
              f"{bom.hex(' ').upper()}); manifests are UTF-8: save it as UTF-8 (e.g. iconv -f {encoding} -t UTF-8)")
    with open(path, encoding=encoding.lower(), errors="replace", newline="") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:  # the id, for the report only: the record itself is refused
                obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except (json.JSONDecodeError, _DuplicateKey):
                obj = None
            yield line, obj if isinstance(obj, dict) else None, reason


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, object, error)`` per non-blank line, read as bytes so that bad UTF-8 is one record's problem."""
    wide = _wide_encoding(path)
    if wide is not None:
        yield from _wide_rows(path, *wide)
        return
    with open(path, "rb") as f:
        for line, raw in enumerate(f, 1):
            if line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            if b"\x00" in raw:  # valid UTF-8, but no JSON text holds a NUL byte: a UTF-16 file without its mark
                yield line, None, ("not valid UTF-8 JSON: the line holds NUL bytes (is the manifest UTF-16 "
                                   "or binary? manifests are UTF-8 text)")
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")  # an error at the end of the line is reported there
            except UnicodeDecodeError as exc:
                yield line, *_utf8_error(raw, exc)
                continue
            try:
                obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except json.JSONDecodeError as exc:
                yield line, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
                continue
            except _DuplicateKey as exc:
                yield line, None, f"key {str(exc)!r} appears twice in the record"
                continue
            if not isinstance(obj, dict):
                yield line, None, f'not a JSON object (got {_json_type(obj)}); each line must be {{"id": ..., ...}}'
                continue
            yield line, obj, None


def _decoded_lines(f: Any) -> Iterator[str]:
    # undecodable bytes become lone surrogates, so one bad record does not stop the csv reader
    for i, raw in enumerate(f):
        if i == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield raw.decode("utf-8", errors="surrogateescape")


def read_csv_header(path: Path) -> list[str]:
    """The CSV header, checked (unknown, repeated or missing required columns are file-level errors)."""
    with open(path, "rb") as f:
        header = next(csv.reader(_decoded_lines(f)), None)
    if not header:
        raise ValueError(f"{path}: empty CSV manifest (no header row)")
    header = [h.strip() for h in header]
    if any(_BAD_UTF8.search(h) for h in header):
        wide = _wide_encoding(path)
        encoding = f" (the file is {wide[0]}: save it as UTF-8)" if wide else ""
        raise ValueError(f"{path}: the CSV header is not valid UTF-8{encoding}")
    keys = valid_keys()
    unknown = sorted(set(header) - set(keys))
    if unknown:
        raise ValueError(f"{path}: unknown CSV columns {unknown}; valid columns: {keys}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(f"{path}: CSV columns {repeated} appear more than once")
    if "id" not in header:
        raise ValueError(f"{path}: the CSV header has no 'id' column (columns: {header})")
    return header


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, row, error)`` per CSV record (a quoted cell may span lines); empty cells are left out."""
    header = read_csv_header(path)
    with open(path, "rb") as f:
        reader = csv.reader(_decoded_lines(f))
        next(reader)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, f"not valid CSV: {exc}"
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                yield line, None, f"has {len(row)} fields but the header has {len(header)} columns {header}"
                continue
            bad = [col for col, cell in zip(header, row) if _BAD_UTF8.search(cell)]
            if bad:
                rid = row[header.index("id")]
                readable = {"id": rid} if rid and not _BAD_UTF8.search(rid) else None
                yield line, readable, f"not valid UTF-8 (in column {bad[0]!r})"
                continue
            yield line, {col: cell for col, cell in zip(header, row) if cell != ""}, None


def valid_keys() -> list[str]:
    """The keys (JSONL) or columns (CSV) a manifest may have: ``VALID_KEYS`` and every registered modality."""
    return sorted(set(VALID_KEYS) | set(MODALITIES.list()))


def is_manifest_path(path: PathLike) -> bool:
    """Whether ``path`` names a manifest by its suffix (``.jsonl`` or ``.csv``)."""
    return Path(path).suffix.lower() in MANIFEST_SUFFIXES


@dataclass
class TaskStats:
    """What the labels and targets of converted samples imply for the tasks; mergeable across shards."""

    label_kind: str | None = None  # "int" or "float"
    max_label: int = -1
    target_names: set[str] = field(default_factory=set)

    def add(self, y: int | float | None, targets: dict[str, float]) -> None:
        if y is not None:
            kind = "int" if isinstance(y, int) else "float"
            if self.label_kind not in (None, kind):
                raise ValueError(f"labels mix integers (classes) and floats (values): got {y!r}")
            self.label_kind = kind
            if kind == "int":
                self.max_label = max(self.max_label, int(y))
        self.target_names.update(targets)

    def merge(self, other: TaskStats) -> TaskStats:
        out = TaskStats(self.label_kind, self.max_label, set(self.target_names))
        if other.label_kind is not None:
            if out.label_kind not in (None, other.label_kind):
                raise ValueError("labels mix integers (classes) and floats (values) across shards")
            out.label_kind = other.label_kind
        out.max_label = max(out.max_label, other.max_label)
        out.target_names |= other.target_names
        return out

    def tasks(self, class_names: Mapping[str, Sequence[str]] | None = None) -> dict[str, Task]:
        """``label``: classification with ``max + 1`` classes (integer labels) or regression; one
        regression task per target name.

        A task in ``class_names`` (the manifest's class names: its labels were names, now ids) is a
        classification with those names, one class per name.
        """
        names = {k: tuple(v) for k, v in (class_names or {}).items()}
        tasks: dict[str, Task] = {}
        if self.label_kind == "int" and LABEL_TASK in names:
            tasks[LABEL_TASK] = Task(LABEL_TASK, "classification", "y", num_classes=len(names[LABEL_TASK]),
                                     class_names=names[LABEL_TASK])
        elif self.label_kind == "int":
            num_classes = self.max_label + 1
            if num_classes < 2:
                log.warning("every label is %d: the 'label' task gets 2 classes", self.max_label)
                num_classes = 2
            tasks[LABEL_TASK] = Task(LABEL_TASK, "classification", "y", num_classes=num_classes)
        elif self.label_kind == "float":
            tasks[LABEL_TASK] = Task(LABEL_TASK, "regression", "y")
        for name in sorted(self.target_names):
            if name in tasks:
                raise ValueError(f"target {name!r} has the name of the task made from 'label'; rename it")
            if name in names:
                tasks[name] = Task(name, "classification", name, num_classes=len(names[name]), class_names=names[name])
            else:
                tasks[name] = Task(name, "regression", name)
        return tasks

    def to_dict(self) -> dict[str, Any]:
        return {"label_kind": self.label_kind, "max_label": self.max_label, "target_names": sorted(self.target_names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskStats:
        return cls(d["label_kind"], d["max_label"], set(d["target_names"]))


class ManifestDataset:
    """A JSONL or CSV manifest, read record by record (see the module docstring for the format).

    Args:
        path: the manifest (``.jsonl`` or ``.csv``); relative paths in it are relative to its folder.
        allow_outside: accept file paths outside the manifest's folder.
        max_image_pixels: refuse larger images (before decoding).
        class_names: task (``"label"``, or a target's name) → the class names its string values are
            read with (class ``k`` is ``names[k]``): a trained run's (``LoadedRun.class_names``), so
            that new data gets the run's class ids (a record naming another class is rejected). Other
            tasks get the manifest's own names; numbers stay numbers (class ids, values).

    Example::

        manifest = ManifestDataset("data/manifest.jsonl")
        for item in manifest:                 # MultimodalSample or Rejection, in input order
            ...
        train = list(manifest.samples("train"))
        dataset = manifest.to_dataset()       # a MultimodalDataset (what load_dataset returns)
        manifest.class_names()                # {"label": ("high", "low")} when labels are class names
    """

    def __init__(
        self, path: PathLike, *, allow_outside: bool = False, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        class_names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.path = Path(path)
        if not is_manifest_path(self.path):
            raise ValueError(f"manifest must be a .jsonl or .csv file, got {str(self.path)!r}")
        if not self.path.is_file():
            raise ValueError(f"manifest not found: {self.path}")
        self.format = self.path.suffix.lower().lstrip(".")
        self.root = Path(os.path.normpath(os.path.abspath(self.path.parent)))
        self.allow_outside = allow_outside
        self.max_image_pixels = max_image_pixels
        self.given_class_names = {task: tuple(names) for task, names in (class_names or {}).items()}
        self._class_names: dict[str, tuple[str, ...]] | None = None  # decided by the label pass
        if self.format == "csv":
            read_csv_header(self.path)  # file-level problems surface now, not at the first record

    @property
    def name(self) -> str:
        return self.path.stem

    def records(self) -> Iterator[ManifestRecord]:
        """Every record, checked without decoding files (structure, id, split, paths, text, label), with
        class names turned into class ids (``class_names()``; its label pass runs first, once)."""
        yield from self._checked(self.class_names(), collect=False)

    def label_pass(self) -> Iterator[ManifestRecord]:
        """Every record checked as ``records()`` does, but with class names kept as strings (those of
        tasks with given names checked to be among them); once the pass has ended, ``class_names()``
        holds them.

        What ``class_names()`` runs; a caller that needs a pass over the records anyway (``mmgraph
        convert`` counts them and fits its tokenizer) makes it this one.

        Raises:
            ValueError: at the end of the pass, when a task has a single class name.
        """
        found: dict[str, set[str]] = {}
        for record in self._checked(self.given_class_names, collect=True):
            if record.ok:
                values = [(LABEL_TASK, record.fields.get("label")), *record.fields.get("targets", {}).items()]
                for task, value in values:
                    if isinstance(value, str):
                        found.setdefault(task, set()).add(value)
            yield record
        names = {task: self.given_class_names.get(task) or tuple(sorted(v)) for task, v in sorted(found.items())}
        for task, one in names.items():
            if len(one) == 1:
                raise ValueError(f"{self.path}: every record with {_field_of(task)} names the class {one[0]!r}: a "
                                 f"classification needs at least 2 classes (add records of another class, or "
                                 f"leave {_field_of(task)} out)")
        self._class_names = names

    def class_names(self) -> dict[str, tuple[str, ...]]:
        """Task → its class names (class ``k`` is ``names[k]``), for the tasks whose values are names: the
        given names, else the sorted names of the records that pass the checks needing no decoding.

        Empty when every label and target is a number. Decided by one label pass over the manifest
        (``label_pass``), the first time it is needed.
        """
        if self._class_names is None:
            for _ in self.label_pass():
                pass
        return dict(self._class_names or {})

    def _checked(self, class_names: Mapping[str, Sequence[str]], *, collect: bool) -> Iterator[ManifestRecord]:
        checker = _RecordChecker(self.root, allow_outside=self.allow_outside, from_csv=self.format == "csv",
                                 class_names=class_names, collect=collect)
        rows = _csv_rows(self.path) if self.format == "csv" else _jsonl_rows(self.path)
        for index, (line, obj, error) in enumerate(rows):
            yield checker.check(index, line, obj, error)

    def __iter__(self) -> Iterator[MultimodalSample | Rejection]:
        """Every record in input order: a validated ``MultimodalSample`` or a ``Rejection``."""
        for record in self.records():
            yield record.load(max_image_pixels=self.max_image_pixels)

    def samples(self, split: str | None = None) -> Iterator[MultimodalSample]:
        """The usable samples of ``split`` (all splits when ``None``), in input order."""
        for record in self.records():
            if split is None or record.split == split:
                item = record.load(max_image_pixels=self.max_image_pixels)
                if isinstance(item, MultimodalSample):
                    yield item

    def rejections(self) -> Iterator[Rejection]:
        """The refused records, in input order (decodes every file, like iteration)."""
        for item in self:
            if isinstance(item, Rejection):
                yield item

    def texts(self, split: str = DEFAULT_SPLIT) -> Iterator[str]:
        """The text of the records of ``split`` that pass the checks needing no decoding.

        A text-only pass: what a tokenizer is fit on before conversion.
        """
        for record in self.records():
            if record.ok and record.split == split and "text" in record.fields:
                yield record.fields["text"]

    def to_dataset(self) -> MultimodalDataset:
        """All usable samples in memory, as a ``MultimodalDataset`` with tasks inferred.

        Tasks: ``label`` (classification with ``max + 1`` classes for integer labels, with one class
        per name for class names, regression for float labels) and one task per target name
        (regression, or classification for class names). The graph config lists the
        modalities present (its tokenizer is fit by ``fit_graph_config``). For manifests too large
        for memory, convert them first (``mmgraph convert``) and load the converted folder.
        """
        splits: dict[str, list[MultimodalSample]] = {s: [] for s in SPLITS}
        rejected: list[Rejection] = []
        stats = TaskStats()
        for record in self.records():
            item = record.load(max_image_pixels=self.max_image_pixels)
            if isinstance(item, Rejection):
                rejected.append(item)
                continue
            splits[record.split].append(item)
            stats.add(item.y, item.targets)
        present = {s: v for s, v in splits.items() if v}
        if not present:
            first = f"; first: {rejected[0]}" if rejected else ""
            raise ValueError(f"{self.path}: no usable record ({len(rejected)} rejected{first})")
        if rejected:
            log.warning("%s: %d record(s) rejected; first: %s", self.path, len(rejected), rejected[0])
        modalities = sorted({m for v in present.values() for s in v for m in s.modalities})
        return MultimodalDataset(
            name=self.name,
            splits=present,
            tasks=stats.tasks(self.class_names()),
            graph_config=GraphConfig(modalities=tuple(modalities)),
            info={
                "source": str(self.path),
                "format": self.format,
                "records": sum(len(v) for v in present.values()) + len(rejected),
                "rejected": len(rejected),
                "rejections": [r.to_dict() for r in rejected[:20]],
            },
        )

    def __repr__(self) -> str:
        return f"ManifestDataset({str(self.path)!r}, format={self.format!r}, allow_outside={self.allow_outside})"


def load_manifest(path: PathLike, *, allow_outside: bool = False,
                  class_names: Mapping[str, Sequence[str]] | None = None) -> MultimodalDataset:
    """A manifest's usable samples as a ``MultimodalDataset`` (see ``ManifestDataset.to_dataset``);
    ``class_names``: the names string labels are read with (``ManifestDataset``)."""
    return ManifestDataset(path, allow_outside=allow_outside, class_names=class_names).to_dataset()


__all__ = [
    "ManifestDataset",
    "ManifestRecord",
    "Rejection",
    "TaskStats",
    "VALID_KEYS",
    "is_manifest_path",
    "load_manifest",
    "valid_keys",
]

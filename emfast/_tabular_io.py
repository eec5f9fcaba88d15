"""Reading and writing the command line's tables: CSV and ``.npy``.

:func:`read_data` reads rows of numbers (a CSV with an optional header, or a
``.npy`` array, from a file or standard input) and says exactly where a file is
wrong; :func:`format_csv` writes numbers with the digits needed to read them
back exactly.

Reading is bounded by what the file declares or holds, never by what it might
go on to hold: a ``.npy`` header is parsed by numpy's literal-only reader and
its byte count is checked before the array is allocated; a text is read in
chunks and refused at the first NUL byte or invalid UTF-8 (so ``/dev/zero`` or
a binary file fails at once), or at a line longer than :data:`MAX_LINE_CHARS`.
"""

import csv
import io
import os
import stat
import sys
import warnings

from emfast._errors import CliError

NPY_MAGIC = b"\x93NUMPY"
MAX_LINE_CHARS = 1 << 24
"""Longest CSV line accepted (16 Mi characters: a million columns of numbers)."""

_CHUNK = 1 << 20  # characters (text) or bytes read at a time
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def format_csv(header, values):
    """CSV text: a header line, then one line per row of ``values``.

    Floats are written with the fewest digits that read back to the same value
    (for their dtype), so the output is exact.

    Examples
    --------
    >>> import numpy as np
    >>> print(format_csv(["proba_0", "proba_1"], np.array([[0.25, 0.75]])), end="")
    proba_0,proba_1
    0.25,0.75
    """
    lines = [",".join(header)]
    if values.dtype.kind == "f" and values.dtype.itemsize < 8:
        # numpy's str of a float32 is its shortest round-trip repr
        lines.extend(",".join(map(str, row)) for row in values)
    else:
        lines.extend(",".join(map(repr, row)) for row in values.tolist())
    return "\n".join(lines) + "\n"


def sniff(path):
    """What a file looks like from its first bytes: ``"npy"``, ``"json"`` or ``"text"``.

    Used to tell a model file given as data (or data given as a model) from a
    plain mistake in the file. Returns None if the file cannot be read, or is
    not a regular file: reading a pipe (``<(cat data.csv)``) would consume the
    bytes that the command then needs.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as file:
            start = file.read(4096)
    except OSError:
        return None
    if start.startswith(NPY_MAGIC):
        return "npy"
    if start.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return "json"
    return "text"


# ------------------------------------------------------------------ the data
def read_data(path):
    """Read a data file: ``.npy`` (by name or content) or CSV (``-``: stdin).

    Parameters
    ----------
    path : str
        A file name, or ``-`` for standard input (CSV or ``.npy`` content).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float64, or float32 when a ``.npy`` file holds float32.
    columns : list of str or None
        The CSV header, when the first row is not all numbers.

    Raises
    ------
    CliError
        For a missing or unreadable file, a binary or non-UTF-8 text, a JSON
        file (a model given as data), an invalid ``.npy`` file, non-numeric,
        missing or infinite values, rows of different lengths, a header whose
        first name is empty (a pandas or R row index), or no data.

    Warns
    -----
    UserWarning
        When the first row is ``0,1,...``: pandas' default column names, read
        as data.
    """
    if path == "-":
        if sys.stdin is None:
            raise CliError("cannot read standard input: it is closed")
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a text stream without bytes underneath
            text = _read_text(sys.stdin, "<stdin>").removeprefix("\ufeff")
            return _parse_csv(text, "<stdin>")
        return _read_stream(buffer, "<stdin>", by_name_npy=False)
    try:
        with open(path, "rb") as file:
            return _read_stream(file, path, path.lower().endswith(".npy"))
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None


def _read_stream(file, name, by_name_npy):
    """A ``.npy`` array or a CSV text from a binary stream."""
    if not hasattr(file, "peek"):
        file = io.BufferedReader(file)
    start = file.peek(len(NPY_MAGIC))[: len(NPY_MAGIC)]
    if start == NPY_MAGIC or by_name_npy:
        return _read_npy(file, name), None
    if start.startswith(_UTF16_BOMS):
        raise CliError(f"{name} is UTF-16 text; save it as UTF-8 (or plain ASCII) CSV")
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        return _parse_csv(_read_text(text, name), name)
    finally:
        text.detach()  # the caller closes the file


def _read_text(stream, name):
    """The whole text of ``stream``, refused early if it is not a CSV text."""
    chunks, line_number, line_length = [], 1, 0
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except UnicodeDecodeError as err:
            raise CliError(
                f"{name} is neither a .npy file nor a UTF-8 text (CSV) file "
                f"({err.reason} at byte {err.start} of a block)"
            ) from None
        if not chunk:
            return "".join(chunks)
        if "\0" in chunk:
            raise CliError(
                f"{name} holds NUL bytes: it is a binary file, not a CSV text"
            )
        if not chunks and chunk.lstrip().startswith("{"):
            raise CliError(
                f"{name} is a JSON file (an emfast model?), not CSV data or .npy"
            )
        line_number, line_length = _check_line_lengths(
            chunk, line_number, line_length, name
        )
        chunks.append(chunk)


def _check_line_lengths(chunk, line_number, line_length, name):
    """Track the current line across chunks; refuse one over MAX_LINE_CHARS."""
    breaks = chunk.count("\n")
    if breaks == 0:
        line_length += len(chunk)
    else:
        line_length += chunk.index("\n")
        if line_length <= MAX_LINE_CHARS:  # lines inside a chunk are shorter
            line_number += breaks
            line_length = len(chunk) - chunk.rindex("\n") - 1
    if line_length > MAX_LINE_CHARS:
        raise CliError(
            f"{name}, line {line_number}: longer than {MAX_LINE_CHARS} characters; "
            "not a CSV file of numbers"
        )
    return line_number, line_length


# ------------------------------------------------------------------- .npy
def _read_npy(file, name):
    """A 2-D numeric array from a ``.npy`` stream: header first, then the data."""
    import numpy as np

    shape, fortran_order, dtype = _read_npy_header(file, name)
    if dtype.hasobject:
        raise CliError(f"{name} holds Python objects, not numbers")
    if dtype.kind not in "biuf":  # structured and sub-array dtypes are "V"
        raise CliError(f"{name} holds non-numeric values (dtype {dtype})")
    if len(shape) != 2:
        raise CliError(
            f"{name} holds an array of shape {shape}; expected 2 dimensions "
            "(rows x features)"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise CliError(f"{name} holds no data (shape {shape})")
    X = _read_values(file, shape, dtype, name)
    X = X.reshape(shape, order="F" if fortran_order else "C")
    target = np.float32 if dtype.kind == "f" and dtype.itemsize == 4 else np.float64
    X = X.astype(target, copy=False)  # native byte order; no copy if already
    _check_finite(X, name, lambda row: f"row {row + 1}")
    return X


def _read_npy_header(file, name):
    """(shape, fortran_order, dtype) through numpy's literal-only header reader."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(file)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(file)
        else:
            raise ValueError(f"unsupported format version {version[0]}.{version[1]}")
    except Exception as err:  # any failure to parse an untrusted header
        reason = err.args[0] if err.args and isinstance(err.args[0], str) else err
        detail = " ".join(str(reason).split()) or type(err).__name__
        raise CliError(f"{name} is not a valid .npy file (header: {detail})") from None
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise CliError(f"{name} is not a valid .npy file (invalid shape {shape})")
    return tuple(shape), fortran_order, dtype


def _read_values(file, shape, dtype, name):
    """The ``shape[0] * shape[1]`` values after the header, no more, no fewer.

    A regular file's size is checked before anything is allocated; other
    streams (pipes, standard input) are read in pieces, so that a header that
    claims terabytes fails when the data run out, not by allocating them.
    """
    import numpy as np

    count = shape[0] * shape[1]
    n_bytes = count * dtype.itemsize
    what = f"its header says shape {shape} of {dtype} ({n_bytes} bytes)"
    try:
        size = os.fstat(file.fileno()).st_size
        regular = stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # no file descriptor
        regular = False
    if regular:
        available = size - file.tell()
        if available != n_bytes:
            raise CliError(
                f"{name} is not a valid .npy file: {what} but {available} bytes "
                "follow (truncated, or not written by numpy)"
            )
        return np.fromfile(file, dtype=dtype, count=count)
    pieces, received = [], 0
    while received < n_bytes:
        piece = file.read(min(_CHUNK * 64, n_bytes - received))
        if not piece:
            break
        pieces.append(piece)
        received += len(piece)
    if received < n_bytes or file.read(1):
        amount = f"only {received}" if received < n_bytes else "more"
        raise CliError(f"{name} is not a valid .npy file: {what} but {amount} follow")
    return np.frombuffer(b"".join(pieces), dtype=dtype).copy()


# -------------------------------------------------------------------- CSV
def _parse_csv(text, name):
    """Numbers of a CSV text; a first row that is not all numbers is a header."""
    import numpy as np

    lines = text.splitlines()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise CliError(f"{name} holds no data (the file is empty)")
    first = next(csv.reader([numbered[0][1]]))
    has_header = not all(_is_number_or_blank(cell) for cell in first)
    _check_index_column(first, has_header, name, numbered[0][0])
    columns = [cell.strip() for cell in first] if has_header else None
    body = numbered[1:] if has_header else numbered
    if not body:
        raise CliError(f"{name} holds a header but no data rows")
    try:  # fast path; the slow one explains what is wrong
        X = np.loadtxt(
            [line for _, line in body],
            delimiter=",",
            dtype=np.float64,
            ndmin=2,
            comments=None,
        )
    except ValueError:
        X = _parse_rows(body, len(first), name)
    if X.shape[1] != len(first):
        what = "the header has" if has_header else "the first row has"
        raise CliError(
            f"{name}, line {body[0][0]}: {X.shape[1]} values, but {what} {len(first)}"
        )
    _check_finite(X, name, lambda row: f"line {body[row][0]}")
    return X, columns


def _check_index_column(first, has_header, name, line_number):
    """Refuse a row index written as the first column; warn on pandas' 0,1,... names.

    pandas' ``DataFrame.to_csv`` (and R's ``write.csv``) write the row index as
    a first column whose header name is empty. Fitting it as a feature would
    silently change the model, so such a file is refused. A first row of
    exactly ``0,1,...,d-1`` is what pandas writes as the header of a frame
    without column names: it is read as data (it may be data) with a warning.
    """
    cells = [cell.strip() for cell in first]
    default_names = [str(i) for i in range(len(cells))]
    index_header = cells[0] == "" and len(cells) > 1
    if index_header and (has_header or cells[1:] == default_names[:-1]):
        raise CliError(
            f"{name}, line {line_number}: the header starts with an empty name, "
            "the row index that pandas' DataFrame.to_csv (or R's write.csv) "
            "writes, which would be fitted as a feature; write the file with "
            "index=False (R: row.names=FALSE) or remove the first column"
        )
    if not has_header and len(cells) > 1 and cells == default_names:
        warnings.warn(
            f"{name}, line {line_number}: the first row {','.join(cells)} is read "
            "as data; if it is the header pandas writes for unnamed columns, "
            "remove it (or name the columns)",
            UserWarning,
            stacklevel=2,
        )


def _is_number_or_blank(cell):
    if not cell.strip():
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse_rows(body, n_columns, name):
    """Parse row by row with the csv module; raise CliError at the first problem."""
    import numpy as np

    rows = []
    for line_number, line in body:
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) != n_columns:
            raise CliError(
                f"{name}, line {line_number}: {len(cells)} values, expected "
                f"{n_columns} like the first row"
            )
        row = []
        for column, cell in enumerate(cells, start=1):
            try:
                row.append(float(cell))
            except ValueError:
                what = "an empty value" if not cell.strip() else f"{cell.strip()!r}"
                raise CliError(
                    f"{name}, line {line_number}, column {column}: {what} is not "
                    "a number"
                ) from None
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def _check_finite(X, name, where):
    import numpy as np

    bad = ~np.isfinite(X)
    if bad.any():
        row, column = (int(i[0]) for i in np.nonzero(bad))
        raise CliError(
            f"{name}, {where(row)}, column {column + 1}: {X[row, column]} "
            "(missing or infinite values are not supported)"
        )

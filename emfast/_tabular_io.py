"""Reading and writing the command line's tables: CSV and ``.npy``.

:func:`read_data` reads rows of numbers (a CSV with an optional header, or a
``.npy`` array) and says exactly where a file is wrong; :func:`format_csv`
writes numbers with the digits needed to read them back exactly.
"""

import csv
import io
import sys

from emfast._errors import CliError

_NPY_MAGIC = b"\x93NUMPY"


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


# ------------------------------------------------------------------ the data
def read_data(path):
    """Read a data file: ``.npy`` (by name or content) or CSV (``-``: stdin).

    Parameters
    ----------
    path : str

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float64, or float32 when a ``.npy`` file holds float32.
    columns : list of str or None
        The CSV header, when the first row is not all numbers.

    Raises
    ------
    CliError
        For a missing or unreadable file, non-numeric, missing or infinite
        values, rows of different lengths, or no data.
    """
    if path == "-":
        return _parse_csv(sys.stdin.read(), "<stdin>")
    try:
        with open(path, "rb") as file:
            start = file.read(len(_NPY_MAGIC))
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None
    if start == _NPY_MAGIC or path.lower().endswith(".npy"):
        return _read_npy(path), None
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except UnicodeDecodeError:
        raise CliError(
            f"{path} is neither a .npy file nor a UTF-8 text (CSV) file"
        ) from None
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None
    return _parse_csv(text, path)


def _read_npy(path):
    import numpy as np

    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise CliError(f"{path} holds Python objects, not numbers") from None
        raise CliError(f"{path} is not a valid .npy file ({err})") from None
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "biuf":
        raise CliError(
            f"{path} holds non-numeric values (dtype {getattr(X, 'dtype', '?')})"
        )
    if X.ndim != 2:
        raise CliError(
            f"{path} holds an array of shape {X.shape}; expected 2 dimensions "
            "(rows x features)"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise CliError(f"{path} holds no data (shape {X.shape})")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    _check_finite(X, path, lambda row: f"row {row + 1}")
    return X


def _parse_csv(text, name):
    """Numbers of a CSV text; a first row that is not all numbers is a header."""
    import numpy as np

    lines = text.splitlines()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise CliError(f"{name} holds no data (the file is empty)")
    first = next(csv.reader([numbered[0][1]]))
    has_header = not all(_is_number_or_blank(cell) for cell in first)
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

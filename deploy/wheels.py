"""Make the deployment zip's third-party packages match the Lambda runtime, whatever Python ran chalice.

Chalice 1.34 has no runtime setting: it writes ``Runtime: python<X.Y>`` of the interpreter that
runs it and vendors wheels for that interpreter's ABI (``orjson...cpython-311-x86_64-linux-gnu.so``
from Python 3.11). Deployed on python3.13 such a zip fails at import. So after ``chalice
package`` this module

1. reads which distributions chalice vendored (``*.dist-info`` in the zip, with their RECORD),
2. downloads the same ``name==version`` as wheels for the target runtime: CPython ``X.Y``,
   manylinux x86_64 up to glibc 2.34 (Amazon Linux 2023), binary only,
3. swaps the files listed in each RECORD for the target wheel's files,
4. refuses the zip if any compiled module is still tagged for another CPython.

It refuses, with the reason, whatever it cannot build correctly: a runtime that is not an
Amazon Linux 2023 Python, a requirement with no wheel for that runtime, a wheel it does not
know how to unpack.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

# Lambda's Python runtimes on Amazon Linux 2023 (glibc 2.34); python3.11 and older run on AL2.
AL2023_PYTHONS = ("3.12", "3.13", "3.14")
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
_CPYTHON_TAG = re.compile(r"\.cpython-(\d)(\d+)-[^/]*\.so$")


class WheelError(Exception):
    """The zip cannot be made to match the runtime; the message says why and what to change."""


@dataclass(frozen=True)
class Vendored:
    name: str
    version: str
    dist_info: str  # "orjson-3.13.0.dist-info/"
    files: frozenset[str]

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def runtime_python(runtime: str, *, deployable: bool = True) -> str:
    """``python3.13`` -> ``3.13``, refusing what is not a Lambda Python runtime on Amazon Linux 2023.

    ``deployable=False`` (the artifact test on a machine without the target interpreter) also
    accepts the machine's own Python 3.11+, to run the same packaging path for it.
    """
    match = re.fullmatch(r"python(3\.\d+)", runtime)
    if not match or (deployable and match.group(1) not in AL2023_PYTHONS) or int(match.group(1).split(".")[1]) < 11:
        supported = ", ".join("python" + p for p in AL2023_PYTHONS)
        raise WheelError(
            f"runtime {runtime!r} is not one this packaging builds for ({supported}: "
            "the Lambda Python runtimes on Amazon Linux 2023)"
        )
    return match.group(1)


def vendored(zip_path: Path) -> list[Vendored]:
    """The distributions chalice vendored into the zip, from their dist-info METADATA and RECORD."""
    out: list[Vendored] = []
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        for dist_info in sorted({n.split("/", 1)[0] + "/" for n in names if n.split("/", 1)[0].endswith(".dist-info")}):
            try:
                meta = HeaderParser().parsestr(z.read(dist_info + "METADATA").decode("utf-8"))
                record = z.read(dist_info + "RECORD").decode("utf-8")
            except KeyError as exc:
                raise WheelError(f"{dist_info} in {zip_path.name} has no METADATA/RECORD; cannot tell its files apart") from exc
            files = {row[0] for row in csv.reader(io.StringIO(record)) if row} | {n for n in names if n.startswith(dist_info)}
            out.append(Vendored(meta["Name"], meta["Version"], dist_info, frozenset(files)))
    return out


def download(pins: list[str], python: str, dest: Path, pip: list[str] | None = None) -> list[Path]:
    """Wheels of exactly ``pins`` (no dependencies: chalice resolved them) for CPython ``python`` on Lambda x86_64."""
    if not pins:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    abi = "cp" + python.replace(".", "")
    command = [
        *(pip or [sys.executable, "-m", "pip"]),
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--abi",
        abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--dest",
        str(dest),
        *pins,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WheelError(
            f"no wheel for CPython {python} manylinux x86_64 of one of {pins}; chalice vendored them for this "
            f"machine's Python, which Lambda's python{python} cannot import. Pin versions that publish such "
            f"wheels in requirements.txt.\n{done.stdout}{done.stderr}"
        )
    wanted = {_normal(p.split("==")[0]): p.split("==")[1] for p in pins}
    wheels = [
        w
        for w in sorted(dest.glob("*.whl"))
        if wanted.get(_normal(w.name.split("-")[0])) == w.name.split("-")[1] and _fits(w.name, abi)
    ]
    missing = set(wanted) - {_normal(w.name.split("-")[0]) for w in wheels}
    if missing:
        raise WheelError(f"pip downloaded no usable wheel for {sorted(missing)} (CPython {python}, manylinux x86_64)")
    return wheels


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _fits(filename: str, abi: str) -> bool:
    """A wheel usable by CPython ``abi`` on manylinux x86_64 (the cache may also hold other ABIs' wheels)."""
    _, _, *tags = filename.removesuffix(".whl").split("-")
    python_tag, abi_tag, platform_tag = tags[-3:]
    linux = "x86_64" in platform_tag and "manylinux" in platform_tag
    return abi_tag in (abi, "abi3", "none") and (platform_tag == "any" or linux) and (abi_tag != abi or python_tag == abi)


def retarget(zip_path: Path, python: str, cache: Path, pip: list[str] | None = None) -> list[str]:
    """Swap the vendored distributions of ``zip_path`` for CPython ``python`` wheels. Returns the pins swapped."""
    dists = vendored(zip_path)
    wheels = download([d.pin for d in dists], python, cache, pip)
    drop = set().union(*(d.files for d in dists)) if dists else set()
    rebuilt = zip_path.with_suffix(".retarget.zip")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename not in drop:
                out.writestr(info, src.read(info))
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as whl:
                for info in whl.infolist():
                    if ".data/" in info.filename.split("/", 1)[0] + "/":
                        raise WheelError(f"{wheel.name} installs files outside site-packages ({info.filename}); not supported")
                    info.external_attr = info.external_attr or (0o644 << 16)
                    out.writestr(info, whl.read(info))
    rebuilt.replace(zip_path)
    if foreign := foreign_extensions(zip_path, python):
        raise WheelError(f"{zip_path.name} still holds modules compiled for another Python: {foreign[:5]}")
    return [d.pin for d in dists]


def foreign_extensions(zip_path: Path, python: str) -> list[str]:
    """Compiled modules tagged for a CPython other than ``python`` (``abi3`` modules fit every version)."""
    major, minor = python.split(".")
    with zipfile.ZipFile(zip_path) as z:
        return [n for n in z.namelist() if (m := _CPYTHON_TAG.search(n)) and (m.group(1), m.group(2)) != (major, minor)]

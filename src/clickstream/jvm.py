"""Java classes the project adds to the local JVM, compiled from source at first use.

The project ships source, never binaries: the JDK that runs Spark compiles it once into a cache
folder keyed by the source's hash, against the Spark jars of the installed pyspark.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from clickstream.engine import EngineError, spark_home

SOURCE_DIR = Path(__file__).parent / "java"
CHECKPOINT_FILE_MANAGER = "clickstream.faults.FaultInjectingCheckpointFileManager"


def _javac() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "javac"] if java_home else []
    java = shutil.which("java")
    if java:
        candidates.append(Path(os.path.realpath(java)).parent / "javac")
    found = shutil.which("javac")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise EngineError("the JVM fault points need a JDK (javac); install openjdk-17-jdk-headless")


def compiled_classes(cache_dir: Path) -> Path:
    """The folder of compiled classes for the project's Java sources (compiled if needed)."""
    sources = sorted(SOURCE_DIR.glob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = cache_dir / digest
    if (target / ".complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    classpath = str(spark_home() / "jars" / "*")
    proc = subprocess.run(
        [_javac(), "-nowarn", "-cp", classpath, "-d", str(target), *map(str, sources)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise EngineError(f"compiling {SOURCE_DIR}: {proc.stderr.strip().splitlines()[0]}")
    (target / ".complete").write_text("ok")
    return target

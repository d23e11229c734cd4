"""What a result depends on besides data and config: package versions, the machine, the timings.

Written into the run directory so the report can state it without importing the run's libraries.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "optuna", "pandas", "matplotlib", "pillow", "joblib")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "machine": platform.platform()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpus": list(_gpus()),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


# What TensorFlow's C++ side prints on start-up on a machine without a GPU driver: straight to file
# descriptor 2, before any Python logging setting applies. Noise to a CPU user; the device line says
# what trains.
_NATIVE_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|Could not find cuda drivers|failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized|computation placer already registered"
    r"|To enable the following instructions:|Created TensorFlow Lite XNNPACK delegate"
)


@contextlib.contextmanager
def native_stderr_filtered():
    """Capture file descriptor 2 for the block, then write back every line but TensorFlow's start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not _NATIVE_NOISE.search(line):
                    sys.stderr.write(line)


@functools.cache
def _gpus() -> tuple[str, ...]:
    """The GPUs TensorFlow sees; importing TensorFlow here, once, without its start-up noise."""
    with native_stderr_filtered():
        import tensorflow as tf

        return tuple(device.name for device in tf.config.list_physical_devices("GPU"))


def import_tensorflow() -> None:
    """For commands that train or predict: TensorFlow loaded (and the GPU query made) quietly, first."""
    _gpus()


def configure_devices(mixed_precision: bool) -> str:
    """One line saying what trains: the GPUs TensorFlow sees (mixed precision if asked) or the CPU."""
    gpus = _gpus()
    if not gpus:
        note = " (mixed_precision ignored: it only pays on a GPU)" if mixed_precision else ""
        return f"device: CPU, {os.cpu_count()} cores{note}"
    if mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    return f"device: {len(gpus)} GPU(s) {', '.join(gpus)}" + (", mixed precision (float16)" if mixed_precision else "")

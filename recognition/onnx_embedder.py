"""FaceNet (InceptionResnetV1) embeddings with ONNX Runtime on the CPU, in fp32 or int8.

The torch model is exported once to ONNX and, given calibration crops, quantised to int8 (QDQ);
both files are cached under a key the caller chooses (it must change whenever the weights, the
crops or the calibration set change: a cached file is never checked against them).

Input "faces" is (N, 3, 160, 160) float32 already standardised as (pixel - 127.5) / 128; output
"embeddings" is (N, 512), unit rows. torch is imported only to export, never to embed.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from onnxruntime.quantization import CalibrationDataReader

CROP_SIZE = 160
EMBEDDING_DIM = 512
INPUT_NAME = "faces"
OUTPUT_NAME = "embeddings"
OPSET = 17
CALIBRATION_PERCENTILE = 99.999
# The first convolutions, on the image itself, stay fp32 (see quantize_int8).
FP32_STEM_CONVOLUTIONS = 2
# In the int8 file's name: changed whenever quantize_int8 writes a different model, so that a file
# an older version built under the same key is not used. Version 1 (8-bit weights, no suffix) gave
# wrong embeddings on x86 CPUs without VNNI (worst cosine to torch 0.34 on an AVX2 EPYC).
INT8_VERSION = "v2"


def export_fp32(model: torch.nn.Module, path: Path) -> None:
    """Export `model` (InceptionResnetV1, classify=False) to ONNX with a dynamic batch axis."""
    import torch

    example = torch.zeros((2, 3, CROP_SIZE, CROP_SIZE))
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated (and warns twice) but still shipped; the default
        # dynamo exporter needs the onnxscript package, took 7x longer and gave the same outputs.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Quantise the exported model to int8 (QDQ, per-channel 7-bit weights), calibrated on face crops.

    `calibration` is (N, 3, 160, 160) float32 standardised crops of real faces; ~40 are enough. The
    file gives the same embeddings on every x86 CPU, with or without VNNI.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = _checked_faces(calibration)
    if not len(calibration):
        raise ValueError("quantize_int8 needs at least one calibration crop.")
    with tempfile.TemporaryDirectory() as work:
        # Pre-processing folds the residual scales into the convolutions and the last batch norm
        # into the linear layer, so fewer tensors need their own quantisation range.
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        # Nodes are stored in execution order: the first convolutions are the stem.
        convolutions = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
        stem = convolutions[:FP32_STEM_CONVOLUTIONS]
        if len(stem) < FP32_STEM_CONVOLUTIONS or not all(stem):
            raise ValueError(f"{fp32_path} has no {FP32_STEM_CONVOLUTIONS} named convolutions to keep in fp32.")
        # The percentile calibrator prints its statistics to stdout: not the caller's output.
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(prepared),
                str(int8_path),
                _crop_reader(calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                # u8 activations x s8 weights is ONNX Runtime's x86 fast path, but without VNNI
                # (AVX2, AVX-512 before Cascade Lake) it adds pairs of products in 16 bits, which
                # saturate with 8-bit weights: on an AVX2 EPYC that file's worst cosine to torch on
                # the 720p classroom stills was 0.340 (median 0.947), on a VNNI machine 0.9987.
                # 7-bit weights (reduce_range, ONNX Runtime's advice for CPUs without VNNI) cannot
                # saturate, so every CPU computes the same: worst 0.99706, median 0.99903. With the
                # stem (the first two convolutions, on the image itself) left in fp32 as well:
                # 0.99856 / 0.99942, about as fast (CPU per face on the EPYC, batch 40: 23-24 ms,
                # 8-bit weights 21-25, fp32 47-49). u8 weights do not saturate either but gave
                # 0.99802 / 0.99921 at 33 ms. Signed activations saturated just as much here (0.338),
                # and were a third as fast with VNNI.
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=True,
                nodes_to_exclude=stem,
                # The 99.999th percentile of each activation: measured against MinMax, Entropy and
                # Distribution with 8-bit weights (MinMax 0.9972), and with 7-bit weights against the
                # 99.9th, 99.99th and 99.9999th (worst 0.976, 0.996, 0.996).
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
            )


class OnnxEmbedder:
    """An ONNX Runtime session on an exported (fp32 or int8) embedder file."""

    def __init__(self, path: Path, *, num_threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Idle pool threads spin by default, taking the cores from torch (detection) and from the
        # other processes on the machine: on 2 busy cores that made every run 2-3x slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Unit-length embeddings, (N, 512) float32, of (N, 3, 160, 160) standardised crops."""
        faces = _checked_faces(faces)
        if not len(faces):
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        (embeddings,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: faces})
        # int8 rounding leaves rows a little off unit length; matching thresholds assume unit rows.
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return (embeddings / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def cached_embedder_path(cache_dir: Path, key: str, *, int8: bool) -> Path:
    """Where `build_embedder_files` keeps the fp32 or int8 file for `key` (int8: of this INT8_VERSION)."""
    return cache_dir / (f"{key}-int8-{INT8_VERSION}.onnx" if int8 else f"{key}-fp32.onnx")


def build_embedder_files(*, model: torch.nn.Module, cache_dir: Path, key: str, calibration: np.ndarray | None) -> Path:
    """Export (and with `calibration`, quantise) into `cache_dir`, keeping files already there.

    Returns the int8 file when `calibration` is given, else the fp32 one. Each file appears whole
    or not at all, so processes building the same key at once both end with a good file.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp32_path = cached_embedder_path(cache_dir, key, int8=False)
    if not fp32_path.exists():
        with _atomic_path(fp32_path) as partial:
            export_fp32(model, partial)
    if calibration is None:
        return fp32_path
    int8_path = cached_embedder_path(cache_dir, key, int8=True)
    if not int8_path.exists():
        with _atomic_path(int8_path) as partial:
            quantize_int8(fp32_path, partial, calibration)
    return int8_path


def _checked_faces(faces: np.ndarray) -> np.ndarray:
    if faces.ndim != 4 or faces.shape[1:] != (3, CROP_SIZE, CROP_SIZE):
        raise ValueError(f"faces must be (N, 3, {CROP_SIZE}, {CROP_SIZE}), not {faces.shape}.")
    return np.ascontiguousarray(faces, dtype=np.float32)


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it when the block succeeds."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        # mkstemp makes the file private; the web and worker processes may run as other users.
        partial.chmod(0o644)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _crop_reader(calibration: np.ndarray) -> CalibrationDataReader:
    from onnxruntime.quantization import CalibrationDataReader

    class CropReader(CalibrationDataReader):
        """One crop per call: the histogram calibrators fail on batches of different sizes."""

        def __init__(self) -> None:
            self.crops = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            crop = next(self.crops, None)
            return None if crop is None else {INPUT_NAME: crop[np.newaxis]}

    return CropReader()

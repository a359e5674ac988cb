"""dsf: DeepFaceDrawing, stage by stage, on Jittor and a CPU.

    import dsf
    pipe = dsf.load_pipeline()            # the kit's shipped parameters (params/)
    trace = pipe.run("sample_sketches/01.png", refine=0.5)
    trace.image                            # H×W×3 uint8 face; every intermediate is on `trace`

Importing `dsf` sets Jittor's environment defaults (no CUDA probing without a GPU, quiet
logs) before Jittor is first imported. Jittor itself is imported only by the modules that
need it (networks, embedding, fusion, synthesis, pipeline, params, training), so the numpy-only
stages (`components`, `manifold`) load instantly.
"""
from . import _env  # noqa: F401  (must run before any `import jittor`)
from .config import PARTS, PRESETS, Config, preset

__all__ = ["PARTS", "PRESETS", "Config", "preset", "load_pipeline", "Pipeline", "Trace", "align_sketch",
           "AlignedSketch"]
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: the pipeline pulls in Jittor, which notebooks that only plot windows do not need.
    if name in ("load_pipeline", "Pipeline", "Trace"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("align_sketch", "AlignedSketch"):  # lazy too: OpenCV, and mediapipe once a face is looked for
        from . import sketch_align

        return getattr(sketch_align, name)
    raise AttributeError(f"module 'dsf' has no attribute {name!r}")

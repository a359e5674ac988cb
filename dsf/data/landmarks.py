"""Facial landmarks for alignment: mediapipe's face mesh reduced to the four component centres.

Alignment needs only where the two eyes, the nose and the mouth are. MediaPipe 0.10.14's face
mesh (468 points) ships its model files inside the wheel, so it runs offline with no download;
it is an optional training dependency (requirements-train.txt) and is imported only when a
`MeshDetector` is built, so the rest of dsf never needs it.

Any callable `rgb image -> FaceCentres | None` can stand in for the detector (tests stub it).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

# Mesh vertex indices (mediapipe face_mesh_connections). The mesh's "right eye" is the
# subject's right, i.e. the eye on the image left: the spec's `eye1`.
EYE1_IDS = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
EYE2_IDS = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
# The whole nose outline (bridge, tip, wings): its mean sits mid-nose, close to where the
# template's nose window centre sits relative to eyes and mouth; the tip alone sits lower.
NOSE_IDS = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278,
            294, 326, 327, 344, 440)
MOUTH_IDS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
             185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375,
             402, 405, 409, 415)  # outer and inner lip contours
NOSE_TIP_ID = 1
"""The most protruding nose point: its offset between the eyes measures yaw."""

CENTRE_NAMES = ("eye1", "eye2", "nose", "mouth")


@dataclass(frozen=True)
class FaceCentres:
    """Component centres of one face in source-image pixels (x, y).

    points:   4×2 float, rows in CENTRE_NAMES order (eye1 = image-left eye).
    nose_tip: (x, y) of the nose tip, for the yaw check.
    """

    points: np.ndarray
    nose_tip: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: np.ndarray) -> "FaceCentres":
        """From a 468×2 array of face-mesh vertices in pixels."""
        points = np.stack([mesh[list(ids)].mean(axis=0) for ids in (EYE1_IDS, EYE2_IDS, NOSE_IDS, MOUTH_IDS)])
        return cls(points=points.astype(np.float64), nose_tip=np.asarray(mesh[NOSE_TIP_ID], np.float64))


class MeshDetector:
    """MediaPipe face mesh (static images, one face) -> FaceCentres, or None if no face.

    Build one per process: the underlying graph is not shareable across processes.
    """

    def __init__(self, min_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logs would bury the progress bar
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        try:
            from mediapipe.python.solutions import face_mesh
        except ImportError as e:  # optional dependency: only data preparation needs it
            raise ImportError(
                "face alignment needs mediapipe 0.10.14 (its face-mesh model ships in the wheel): "
                "pip install -r requirements-train.txt"
            ) from e
        self._mesh = face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=min_confidence
        )

    def __call__(self, rgb: np.ndarray) -> FaceCentres | None:
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        mesh = np.array([(p.x * w, p.y * h) for p in result.multi_face_landmarks[0].landmark], np.float64)
        return FaceCentres.from_mesh(mesh)

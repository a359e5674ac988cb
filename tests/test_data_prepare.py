"""`prepare` end to end on a handful of synthetic photos laid out like the shared data.

The landmark detector is stubbed here (and only here) through prepare's `detector=`
argument: the stub finds the four dark blobs (eyes, nose, mouth) that the test draws.
"""
import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from dsf.data import MANIFEST_FIELDS, PACK_ARRAYS, PreparedDataset, load_pack
from dsf.data.__main__ import main
from dsf.data.landmarks import FaceCentres
from dsf.data.prepare import REASONS, list_items, prepare

FEATURES = ((0.36, 0.42), (0.64, 0.42), (0.5, 0.58), (0.5, 0.73))  # eye1, eye2, nose, mouth (fractions)


class BlobDetector:
    """Stub detector: the four largest dark blobs are eye1, eye2 (top two, by x), nose, mouth."""

    def __call__(self, rgb):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        n, _, stats, centroids = cv2.connectedComponentsWithStats((grey < 70).astype(np.uint8))
        if n < 5:
            return None
        big = centroids[1:][np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:4]]
        big = big[np.argsort(big[:, 1])]
        eyes = big[:2][np.argsort(big[:2, 0])]
        points = np.vstack([eyes, big[2:]])
        return FaceCentres(points=points, nose_tip=points[2])


def face(w, h, shift=(0, 0), grey=False):
    img = np.full((h, w, 3), (190, 160, 140), np.uint8)
    cv2.ellipse(img, (w // 2, int(0.55 * h)), (int(0.3 * w), int(0.4 * h)), 0, 0, 360, (215, 180, 160), -1)
    for i, (fx, fy) in enumerate(FEATURES):
        centre = (int(fx * w + shift[0]), int(fy * h + shift[1]))
        axes = (int(0.07 * w), int(0.025 * h)) if i != 2 else (int(0.03 * w), int(0.03 * h))
        cv2.ellipse(img, centre, axes, 0, 0, 360, (30, 20, 20), -1)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if grey else img


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")

    def write(rel, image):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image if image.ndim == 2 else image[..., ::-1])

    # FS2K: two train pairs, one test pair, one pair whose sketch is drawn far off its photo.
    for n, (w, h) in enumerate([(250, 250), (223, 318), (250, 250), (250, 250)], start=1):
        write(f"fs2k/photo/photo1/image{n:04d}.jpg", face(w, h))
        offset = (0.2 * w, 0) if n == 4 else (0, 0)
        write(f"fs2k/sketch/sketch1/sketch{n:04d}.jpg", face(w, h, shift=offset, grey=True))
    (root / "fs2k/anno_train.json").write_text(json.dumps(
        [{"image_name": "photo1/image0001", "gender": 0}, {"image_name": "photo1/image0002", "gender": 1},
         {"image_name": "photo1/image0004", "gender": 1}]))
    (root / "fs2k/anno_test.json").write_text(json.dumps([{"image_name": "photo1/image0003", "gender": 1}]))
    write("celebamask_mini/train/images/aaa.jpg", face(512, 512))
    write("celebamask_mini/val/images/bbb.jpg", face(512, 512))
    write("celebamask_mini/test/images/ccc.jpg", np.full((512, 512, 3), 128, np.uint8))   # no face
    write("scut_fbp5500/images/AF1.jpg", face(256, 256))
    write("scut_fbp5500/images/CM2.jpg", face(256, 256))
    return root


@pytest.fixture(scope="module")
def prepared(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    summary = prepare(source, out, size=128, workers=1, detector=BlobDetector(), progress=False)
    return out, summary


def test_listing_splits_and_sex(source):
    items = {it.id: it for it in list_items(source)}
    assert items["fs2k_photo1_image0003"].split == "test"
    assert items["fs2k_photo1_image0001"].split == "train" and items["fs2k_photo1_image0001"].sex == "male"
    assert items["fs2k_photo1_image0002"].sex == "female"
    assert items["celebamask_bbb"].split == "val" and items["celebamask_ccc"].split == "val"
    assert items["celebamask_aaa"].sex is None
    assert items["scut_AF1"].sex == "female" and items["scut_CM2"].sex == "male"


def test_counts_per_source_and_reason(prepared):
    _, summary = prepared
    assert summary["all"]["total"] == 9 and summary["all"]["kept"] == 7
    assert summary["per_source"]["celebamask"]["rejected"]["no_face"] == 1
    assert summary["per_source"]["fs2k"]["rejected"]["sketch_misregistered"] == 1
    assert set(summary["per_source"]["fs2k"]["rejected"]) == set(REASONS)
    assert summary["all"]["mean_eye_error_frac"] < 0.03
    assert summary["kept_per_split"] == {"test": 1, "train": 5, "val": 1}


def test_manifest_schema_and_files(prepared):
    out, _ = prepared
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 7
    for r in rows:
        assert set(r) == set(MANIFEST_FIELDS), set(r) ^ set(MANIFEST_FIELDS)
        for name, kind in MANIFEST_FIELDS.items():
            assert isinstance(r[name], kind), (name, r[name])
        assert set(r["landmarks_aligned"]) == {"eye1", "eye2", "nose", "mouth"}
        assert r["sketch_kind"] == ("artist" if r["source"] == "fs2k" else "extracted")
        photo = cv2.imread(str(out / "photos" / r["split"] / f"{r['id']}.png"))
        sketch = cv2.imread(str(out / "sketches" / r["split"] / f"{r['id']}.png"), cv2.IMREAD_UNCHANGED)
        assert photo.shape == (128, 128, 3) and sketch.shape == (128, 128)
        assert np.median(sketch) > 240 and sketch.min() < 100           # dark strokes on white
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert {r["id"]: r["reason"] for r in rejected} == {"celebamask_ccc": "no_face",
                                                        "fs2k_photo1_image0004": "sketch_misregistered"}
    assert (out / "contact_sheet.png").stat().st_size > 0
    assert (out / "extractor_vs_artist.png").stat().st_size > 0


def test_artist_sketch_stays_registered_with_its_photo(prepared):
    out, _ = prepared
    ds = PreparedDataset(out, "train")
    r = next(i for i, row in enumerate(ds.rows) if row["id"] == "fs2k_photo1_image0002")
    item = ds[r]
    photo_dark = cv2.cvtColor(item["photo"], cv2.COLOR_RGB2GRAY) < 70
    sketch_dark = item["sketch"] < 70
    overlap = (photo_dark & sketch_dark).sum() / max(photo_dark.sum(), 1)
    assert overlap > 0.8


def test_pack_round_trip(prepared):
    out, _ = prepared
    for split in ("train", "val", "test"):
        pack = load_pack(out, split)
        ds = PreparedDataset(out, split)
        assert set(pack) == set(PACK_ARRAYS)
        assert len(pack["ids"]) == len(ds) and list(pack["ids"]) == [r["id"] for r in ds.rows]
        for i in range(len(ds)):
            assert (pack["photos"][i] == ds.photo(i)).all() and (pack["sketches"][i] == ds.sketch(i)).all()
        assert list(pack["sex"]) == [r["sex"] or "" for r in ds.rows]
        assert pack["photos"].dtype == np.uint8 and pack["photos"].shape[1:] == (128, 128, 3)
        assert pack["sketches"].shape[1:] == (128, 128)
    with np.load(out / "pack_train.npz", allow_pickle=False) as z:
        assert z["ids"].dtype.kind == "U"


def test_resume_skips_done_faces_and_rebuilds_the_same_outputs(prepared, source, capsys):
    out, summary = prepared
    before = (out / "manifest.jsonl").read_text()
    again = prepare(source, out, size=128, workers=1, detector=BlobDetector(), progress=False)
    assert "0 to do" in capsys.readouterr().out
    assert (out / "manifest.jsonl").read_text() == before
    assert again["per_group"] == summary["per_group"]
    with pytest.raises(ValueError, match="prepared with"):
        prepare(source, out, size=256, workers=1, detector=BlobDetector(), progress=False)


def test_two_workers_give_the_same_manifest(prepared, source, tmp_path):
    out, _ = prepared
    prepare(source, tmp_path, size=128, workers=2, detector=BlobDetector(), progress=False)
    assert (tmp_path / "manifest.jsonl").read_text() == (out / "manifest.jsonl").read_text()


def test_cli_reports_a_missing_source(tmp_path, capsys):
    assert main(["prepare", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err
